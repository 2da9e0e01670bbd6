"""lakesight's models, grouped by family as torchvision groups its tasks.

- ``detection/``: MobileNet-SSD (the JD pipeline's detector), its box maths,
  training and evaluation;
- ``description/``: DeepBit binary descriptors, Hamming search and baselines;
- at the root, what every family shares: ``runtime`` (the registry, the
  ONNX Runtime / OpenCV DNN runners, the ONNX opset, int8 quantisation and the
  card writer), ``nn`` (shared layers and the weight loader) and ``scenes`` (the
  generated scenes both families train on);
- ``registry/``: the shipped models, each with ``card.json`` and ``MODEL_CARD.md``.
"""
