"""A warm zygote inside the kernel sandbox: Python with ipykernel (and what students import)
already loaded, which forks one fresh, fully isolated kernel per request (see ``zygote``).

Never imported by the grader: its source (after ``_launcher``'s, whose ``apply`` it uses) is
handed to ``python -I -c`` inside bubblewrap, like the launcher's. Standard library only, besides
the modules it preloads. It runs as the sandbox's user with ``CAP_SYS_ADMIN`` and
``CAP_NET_ADMIN`` in the sandbox's own user namespace only (bubblewrap's ``--cap-add``), which
each child uses to build its own namespaces and then drops for good.

Protocol on the control socket (``argv[1]``, a descriptor): the zygote sends one line of JSON
(``{"ready": true, "preloaded": [...]}`` or ``{"error": ...}``); then each request is one
datagram of JSON with two descriptors (``SCM_RIGHTS``): the child's own channel and its log.
The child, on its channel: sends its pid (``SCM_CREDENTIALS``: the grader reads the host's pid
and puts it in the kernel's cgroup), waits for ``go``, makes its namespaces, and sends the
kernel's pid the same way before the kernel starts.

A child (A) forked from the zygote: new session, every descriptor closed but its channel and
log; after ``go`` it unshares mount, PID, IPC, UTS, network and cgroup namespaces and forks B,
the new PID namespace's init, which mounts the child's own ``/proc``, tmpfs ``HOME``, ``/tmp``,
``/dev/shm`` and ``/run`` (its connection file and its socket folder), brings up loopback, and
forks C: the kernel, which takes its limits (``apply``), drops every capability, sets
``no_new_privs``, takes its environment and starts ipykernel in the same process. B and A only
wait (without capabilities) and exit with the kernel; B's parent-death signal ends the namespace
with A.
"""

import ctypes
import gc
import json
import os
import signal
import socket
import struct
import sys
import threading
import traceback
from typing import Any, Dict, List, Optional, Tuple

_NEWNS, _NEWCGROUP, _NEWUTS, _NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
_NEWPID, _NEWNET = 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP = 1, 4, 24
_PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
_SIOCSIFFLAGS, _IFF_UP, _IFF_RUNNING = 0x8914, 0x1, 0x40
_CAP_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_SPEC: Dict[str, Any] = {}  # what the grader said at start: "preload", "python" (folders to keep)
# Imported by ipykernel while a kernel starts (its debugger, history, process utilities); none
# starts a thread on import (the zygote checks that it has one thread before it serves).
_KERNEL_MODULES = ("ipykernel.debugger", "debugpy", "sqlite3", "psutil", "tornado.gen",
                   "tornado.queues", "tornado.locks", "pdb", "IPython.extensions")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, what + ": " + os.strerror(errno))


def _mount(source: str, target: str, fstype: Optional[str], flags: int, data: Optional[str]) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), "mount " + target)


def drop_capabilities() -> None:
    """No capability left, none to regain (bounding set and ambient set emptied), no new
    privileges through exec."""
    for cap in range(64):
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = ctypes.create_string_buffer(struct.pack("=Ii", _CAP_VERSION_3, 0))
    data = ctypes.create_string_buffer(24)
    _check(_libc.capset(header, data), "capset")
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _send_pid(chan: socket.socket) -> None:
    creds = struct.pack("=iII", os.getpid(), os.getuid(), os.getgid())
    chan.sendmsg([b"p"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])


def _close_all_but(keep: List[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        import fcntl
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", _IFF_UP | _IFF_RUNNING, b""))


def _say(what: str) -> None:
    if os.environ.get("GRADER_ZYGOTE_DEBUG"):
        os.write(2, ("zygote %d: %s\n" % (os.getpid(), what)).encode())


def _under(path: str, folders: List[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _keep(fds: List[Tuple[str, int]]) -> None:
    """Bind each kept path (held open as ``fd`` since before it was covered) back in place, with
    the mounts inside it (the grader's files hidden there), read-only as it was."""
    for path, fd in fds:
        if os.path.isdir("/proc/self/fd/%d" % fd):
            os.makedirs(path, 0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o444))
        _mount("/proc/self/fd/%d" % fd, path, None, _MS_BIND | _MS_REC, None)
        os.close(fd)
        if not os.statvfs(path).f_flag & os.ST_RDONLY:
            raise OSError("the Python under %s would be writable in the kernel" % path)


def _build_world(req: Dict[str, Any]) -> None:
    """As the new PID namespace's init (B): its own /proc, tmpfs folders, /run, loopback, name.
    Python's own folders that lie inside the covered ones (a Python installed under ``/tmp``) are
    bound back in, as the sandbox itself does."""
    disk = "size=%d" % (int(req["disk_mb"]) * 1024 * 1024)
    covered = [req["home"], "/tmp", "/dev/shm", "/run"]
    kept = [(path, os.open(path, os.O_PATH | os.O_CLOEXEC))
            for path in _SPEC.get("python") or () if _under(path, covered)]
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    for path in covered[:3]:
        _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, disk + ",mode=0755")
    _mount("tmpfs", "/run", "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=65536,mode=0755")
    _keep(kept)
    os.mkdir(req["sockets"], 0o700)
    with open(req["connection_path"], "w") as fh:
        fh.write(req["connection"])
    os.chmod(req["connection_path"], 0o444)
    _mount("tmpfs", req["sockets"], "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=1048576,mode=0700")
    _mount("none", "/run", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    _loopback()
    _check(_libc.sethostname(b"sandbox", 7), "sethostname")


def _wait_for(pid: int) -> int:
    """Reap every child until ``pid`` exits; its exit status as an exit code."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if done == pid:
            return os.waitstatus_to_exitcode(status) & 0xFF


def _kernel(req: Dict[str, Any], chan: socket.socket) -> None:
    """C: limits, no capabilities, the kernel's environment, then ipykernel in this process."""
    for problem in globals()["apply"](req["spec"]):
        print("grader sandbox: " + problem, file=sys.stderr)
    _say("limits applied"); drop_capabilities(); _say("caps dropped")
    _libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # as a freshly started kernel: measured by the grader
    _send_pid(chan)
    chan.close()
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["home"])
    import random
    random.seed()  # the zygote's generators, seeded once there, are this kernel's own from now on
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
    sys.argv = ["ipykernel_launcher", "-f", req["connection_path"], *req["args"]]
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


def _child(req: Dict[str, Any], chan: socket.socket) -> int:
    """A: isolated from the zygote and every sibling before any kernel code runs."""
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    _send_pid(chan)
    got = chan.recv(16)
    _say("got %r" % got)
    if got != b"go":
        return 1
    _check(_libc.unshare(_NEWNS | _NEWPID | _NEWIPC | _NEWUTS | _NEWNET | _NEWCGROUP), "unshare")
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)
    init = os.fork()
    _say("forked %d" % init)
    if init:
        drop_capabilities()
        chan.close()
        return _wait_for(init)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _say("init"); _build_world(req); _say("world built")
    kernel = os.fork()
    if kernel == 0:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        try:
            _kernel(req, chan)
        except Exception:  # noqa: BLE001 -- the kernel could not start: said on its log
            traceback.print_exc()
            os._exit(1)
        finally:
            os._exit(0)
    drop_capabilities()
    chan.close()
    return _wait_for(kernel)


def _serve(control: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    # One buffer for every request, wiped once its child is forked: no later child finds an
    # earlier kernel's connection key or token in the memory it inherits.
    buffer = bytearray(1 << 20)
    while True:
        fds: List[int] = []
        try:
            size, ancdata, _, _ = control.recvmsg_into([buffer], socket.CMSG_SPACE(2 * 4))
        except InterruptedError:
            continue
        if not size:
            return  # the grader closed its end
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += list(struct.unpack("%di" % (len(data) // 4), data[: len(data) - len(data) % 4]))
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                control.close()
                chan = socket.socket(fileno=fds[0])
                os.dup2(fds[1], 2)
                os.close(fds[1])
                null = os.open("/dev/null", os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.close(null)
                _close_all_but([chan.fileno()])
                code = _child(json.loads(bytes(buffer[:size])), chan)
            except BaseException as exc:  # noqa: BLE001 -- said on the kernel's log, then gone
                try:
                    os.write(2, ("grader zygote: child failed: %r\n" % (exc,)).encode())
                except OSError:
                    pass
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        buffer[:size] = bytes(size)


def main(argv: List[str]) -> int:
    control = socket.socket(fileno=int(argv[1]))
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # nothing may trace or read the zygote's memory
    spec = json.loads(argv[2])
    _SPEC.update(spec)
    loaded = []
    try:
        import ipykernel.ipkernel  # noqa: F401
        import ipykernel.kernelapp  # noqa: F401
        import ipykernel.zmqshell  # noqa: F401
        for name in _KERNEL_MODULES:  # what a kernel imports while it starts, not before
            try:
                __import__(name)
            except Exception:  # noqa: BLE001 -- an optional part (the debugger): imported later, if at all
                pass
        for name in spec.get("preload") or ():
            try:
                __import__(name)
                loaded.append(name)
            except Exception:  # noqa: BLE001 -- a module students may import; the kernel imports it then
                pass
        if threading.active_count() != 1:
            raise RuntimeError("preloading left %d threads" % threading.active_count())
        gc.collect()
        gc.freeze()  # the preloaded objects stay shared with every child (no copy on collection)
    except BaseException as exc:  # noqa: BLE001 -- said to the grader, which starts kernels cold
        control.sendall((json.dumps({"error": repr(exc)}) + "\n").encode())
        return 1
    control.sendall((json.dumps({"ready": True, "preloaded": loaded}) + "\n").encode())
    _serve(control)
    return 0


if __name__ == "__main__" or globals().get("_ZYGOTE_MAIN"):
    sys.exit(main(sys.argv))
