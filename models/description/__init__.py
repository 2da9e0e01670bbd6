"""Image description: DeepBit binary codes, their hashing kernels and baselines.

``deepbit`` holds the torch model and the three DeepBit objectives;
``descriptor`` the runtime-independent describer (codes + embeddings);
``hashing`` packing, the Hamming top-k index and the PCA-ITQ/LSH baselines;
``train_deepbit`` the reproducible two-stage training script.
"""
