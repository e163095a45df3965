"""Data contracts: images, masks, maps, dataset sources, COCO boxes and the simulated annotator."""
