"""Experiments: many runs planned as one — the architecture ladder, seed groups, and
grid sweeps — each into a folder of run folders that the same command resumes.

Layer: above training (it plans and trains runs); the report reads its groups.
"""
