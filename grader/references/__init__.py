"""References: what a right answer is, computed in the grader process only, never in a kernel.

Owns SymPy derivatives and float recomputation of the published expressions (:mod:`.symbolic`),
the computational graphs a micrograd ``Value`` must reproduce, node by node (:mod:`.graphs`), the
reference multilayer perceptrons and their data sets (:mod:`.nets`) and the worked examples a
notebook rebuilds (:mod:`.examples`). Pure functions of plain numbers: may import the standard
library, SymPy and numpy, and nothing else of the grader.
"""
