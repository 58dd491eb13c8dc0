"""Training: a plan checked before anything is built, the trainer and its loop, the
clock, state, step, optimizers, steering and torchrun/DDP.

May import any other package of core/.
"""
