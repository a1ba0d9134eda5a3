"""Training: book-style optimizers, gradient clipping, weight-tying merge, trainers
(mini-batch and truncated BPTT), evaluation, and parameter save/load.

    from pyrnn.train import Adam, Trainer
    trainer = Trainer(model, Adam(1e-3), seed=0)
    trainer.fit(x_train, t_train, max_epoch=3, batch_size=128, max_grad=5.0)
    eval_seq2seq(model, x_test, t_test)          # exact-match accuracy
"""
from .checkpoint import load_params, named_params, save_params
from .evaluate import eval_accuracy, eval_perplexity, eval_seq2seq, forward_eval, seq2seq_predict
from .grads import clip_grads, dedup_params, grad_norm, remove_duplicate
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from .progress import have_tqdm, progress
from .trainer import RnnlmTrainer, Trainer

__all__ = [
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
    "clip_grads", "grad_norm", "dedup_params", "remove_duplicate",
    "Trainer", "RnnlmTrainer",
    "eval_perplexity", "eval_seq2seq", "seq2seq_predict", "eval_accuracy", "forward_eval",
    "save_params", "load_params", "named_params", "progress", "have_tqdm",
]
