"""The whole isolation policy for kernels, in one place.

- ``policy``: which level this machine allows (bubblewrap sandbox, root namespaces, own uid,
  none), detected once per grader process and reported layer by layer;
- ``allowlist``: what a sandboxed kernel may see (the bubblewrap command line);
- ``denylist``: the grader's files, covered where bubblewrap cannot be had (root namespaces);
- ``identity``: the uid each kernel runs as when the grader is root;
- ``jail``: one kernel's folders, launch command, socket checks and teardown;
- ``reap``: killing what a kernel started, by PID namespace, uid or (last) session and token;
- ``_launcher``: the code that runs between the sandbox and the kernel (limits, identity).
"""

from __future__ import annotations

from .identity import Identity, check_python_access
from .jail import Jail
from .policy import Layer, Level, Policy, detect

__all__ = ["Identity", "Jail", "Layer", "Level", "Policy", "check_python_access", "detect"]
