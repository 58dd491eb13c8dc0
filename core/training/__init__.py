"""Training: a plan checked before anything is built, the trainer and its loop, the
clock, state, step, optimizers, steering, torchrun/DDP, and the architecture ladder.

May import any other package of core/.
"""
