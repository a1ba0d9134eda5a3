"""The backend-vs-reference cases, one module per op family (docs/architecture.md's families):

  core       the one tolerance norm (RTOL, relative to the reference tensor's largest magnitude), the
             one comparison (mismatch / assert_close) and the layout helpers every family uses
  recurrent  rnn, lstm, gru (both GRU forms), their packed ops and the chunked (stateful) runs
  words      embedding, dropout, affine, softmax, softmax and sigmoid cross-entropy
  attention  seq2seq attention (attention, attention_weights, weighted_sum) and sdpa
  norm       layer_norm

Each family module holds its shapes, variants, its one case generator (make_case, or the named
generators of its op kinds) and its run helpers; every backend's tests import them from here: the CPU
backends (tests/test_<family>_backends.py), the GPU (tests/test_cuda_backend.py), the CUDA host
emulator (tests/cuda_emulated_cases.py) and Numba's CUDA simulator (tests/numba_cuda_*cases.py).
Nothing here imports pytest: the emulator and simulator case files run as plain scripts.
"""
