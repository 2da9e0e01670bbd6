"""Object detection: MobileNet-SSD, its box maths, training and VOC evaluation.

``boxes`` holds the numpy box maths (priors, matching, encode/decode, NMS,
Caffe's ``DetectionOutput``) shared by training, every runtime and evaluation;
``ssd`` the torch model and MultiBox loss; ``detector`` the runtime-independent
detector (preprocess, post-process); ``train_ssd`` the reproducible training
script; ``release`` its export, int8 copy, evaluation and card; ``evaluation`` VOC
mAP on held-out generated scenes.
"""
