"""Named end-to-end recipes: one command from photos to a shipped student.

:data:`RECIPES` maps a name to its default settings; :func:`run_recipe` runs one,
resumably (every stage keeps its output and is skipped or resumed when run again).
"""

from boxpromptiml.recipes.general import (
    INFERENCE_SETTINGS,
    RECIPES,
    GeneralRecipe,
    RecipeResult,
    get_recipe,
    run_recipe,
    set_inference,
)

__all__ = [
    "INFERENCE_SETTINGS",
    "RECIPES",
    "GeneralRecipe",
    "RecipeResult",
    "get_recipe",
    "run_recipe",
    "set_inference",
]
