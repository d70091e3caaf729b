"""Grader code that runs inside the student's kernel: it calls the student's names, nothing more.

This file is sent as text into a fresh kernel before the first student cell and executed as a
private module whose ``__builtins__`` is a snapshot taken at that moment, so a notebook that later
patches ``builtins``, ``json``, ``math``, ``print`` or ``sys.stdout`` cannot change how this code
reads or reports answers. It knows no reference value; the grader re-validates everything it sends.

Results leave through the display publisher captured at install time, as one display_data message
whose payload is the grader's nonce followed by JSON that this module writes itself.
"""

MIME = "application/x-grader-probe"
_MAX_LEN = 100_000
_MAX_TEXT = 400

_state = {}


class _Unplain(Exception):
    """The student's object is not a plain number or list of numbers."""


def install(shell, output_limit):
    """Capture what probes need now, while nothing has been patched yet."""
    _state["shell"] = shell
    _state["publish"] = shell.display_pub.publish
    _state["float"] = float.__float__
    _state["int"] = int.__int__
    _state["to_float"] = float
    _state["getattribute"] = object.__getattribute__
    _state["frepr"] = float.__repr__
    _state["irepr"] = int.__repr__
    lockdown(shell)
    cap_output(shell, output_limit)


def cap_output(shell, limit):
    """Truncate what each cell prints past ``limit`` characters, before it is ever sent.

    IPython re-wraps ``stream.write`` around every cell (to record output history) and restores
    it afterwards, so the cap is re-applied at the start of each cell, inside that wrapping.
    """
    import sys

    streams = (sys.stdout, sys.stderr)
    used = [0]

    def capped(inner):
        def write(text, *args, **kwargs):
            if used[0] >= limit:
                return len(text)
            size = len(text)
            if used[0] + size > limit:
                text = text[: limit - used[0]] + "\n[further output truncated by the grader]\n"
            used[0] += size
            return inner(text, *args, **kwargs)
        return write

    def before_cell(*args):
        used[0] = 0
        for stream in streams:
            try:
                stream.write = capped(stream.write)
            except (AttributeError, TypeError):
                pass  # not a stream we can wrap; the grader's own cap still applies

    shell.events.register("pre_run_cell", before_cell)


# Magics that install packages or run a shell (and so could reach the network or change the
# environment). A notebook using them gets a clear error in that cell; the rest still runs.
BLOCKED_LINE_MAGICS = ("pip", "conda", "mamba", "micromamba", "uv", "sx", "sc", "system")
BLOCKED_CELL_MAGICS = ("bash", "sh", "script", "sx", "system", "perl", "ruby")


class ShellDisabled(RuntimeError):
    """Raised in place of shell escapes and package installs while grading."""


def _refuse(what):
    def refuse(*args, **kwargs):
        raise ShellDisabled("%s is disabled while grading: the notebook runs offline, with the "
                            "packages the grader provides (numpy, sympy, math); remove it" % what)
    return refuse


def lockdown(shell):
    """Disable shell escapes (``!cmd``) and package-manager magics (``%pip``, ``%conda``, ...)."""
    for name in ("system", "system_piped", "system_raw", "getoutput"):
        setattr(shell, name, _refuse("running shell commands (!...)"))
    for name in BLOCKED_LINE_MAGICS:
        shell.register_magic_function(_refuse("%" + name), "line", name)
    for name in BLOCKED_CELL_MAGICS:
        shell.register_magic_function(_refuse("%%" + name), "cell", name)


# ----------------------------------------------------------------------------- plain data out

def _escape(text):
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 32 <= code < 127:
            out.append(ch)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
    out.append('"')
    return "".join(out)


def _encode(obj):
    t = type(obj)
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if t is int:
        return _state["irepr"](obj)
    if t is float:
        text = _state["frepr"](obj)
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)
    if t is str:
        return _escape(obj)
    if t is list:
        return "[" + ",".join(_encode(x) for x in obj) + "]"
    if t is dict:
        return "{" + ",".join(_escape(k) + ":" + _encode(v) for k, v in obj.items()) + "}"
    raise TypeError("grader bug: cannot encode %s" % t)


def _short(text):
    text = str(text)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


_NAME = type.__dict__["__name__"]  # a class's own name, whatever its metaclass says


def _describe(exc):
    name = _NAME.__get__(type(exc))
    try:
        message = str(exc)
    except KeyboardInterrupt:  # the timeout's interrupt
        raise
    except BaseException:  # noqa: BLE001 -- a hostile __str__ must not hide the exception's name
        message = ""
    return _short(name + (": " + message if message else ""))


def _typename(x):
    """The name of ``x``'s class as the class was defined (a metaclass's ``__name__`` is not asked)."""
    return _short(_NAME.__get__(type(x)))


_NO = object()
_DEPTH = 3  # a Value whose .data is a Value whose .data is ...: this many levels, then refused
_NOTES = 4  # distinct notes on number-like answers, per probe


def _note(kind, what, how):
    """Remember once per type that an answer was number-like rather than a number."""
    notes = _state.setdefault("notes", {})
    if kind in notes:
        notes[kind][1] += 1
    elif len(notes) < _NOTES:
        notes[kind] = [what, 1, how]


def _own_data(x):
    """``x.data`` read through ``object.__getattribute__`` as captured at install time (a class's
    ``__getattr__`` or ``__getattribute__`` is not asked); _NO when there is none."""
    try:
        return _state["getattribute"](x, "data")
    except KeyboardInterrupt:  # the timeout's interrupt
        raise
    except BaseException:  # noqa: BLE001 -- whatever a .data property raises, there is no number there
        return _NO


def number(x, what, depth=0, wrapped=True):
    """One student value as an exact built-in float (int kept as int), or _Unplain.

    A float or int (or a subclass: its own value, not what its methods say) is taken as it is.
    Number-like answers are read and noted: an object holding a number in ``.data`` (a ``Value``
    where a number belongs; ``wrapped=False`` where a ``Value`` is what was asked for), and anything
    ``float()`` converts (numpy scalars and 0-d arrays, ``Fraction``, ``Decimal``, SymPy numbers).
    Whatever comes out must be a built-in float, read through the float methods captured at install.
    """
    t = type(x)
    if t is float or t is int:
        return x
    if isinstance(x, bool) or _typename(x) in ("bool_", "bool"):
        raise _Unplain("%s is a bool, not a number" % what)
    if isinstance(x, (str, bytes, complex)):
        raise _Unplain("%s is a %s, not a real number" % (what, _typename(x)))
    if isinstance(x, (bytearray, memoryview)):  # float() reads their bytes as text: b"0.75" -> 0.75
        raise _Unplain("%s is a %s, not a number" % (what, _typename(x)))
    if isinstance(x, float):
        return _state["float"](x)
    if isinstance(x, int):
        return _state["int"](x)
    data = _own_data(x)
    if data is not _NO and type(data) is not memoryview:  # numpy's .data is its buffer
        if depth >= _DEPTH:
            raise _Unplain("%s is a %s whose .data holds a %s ... too deeply nested to be a number"
                           % (what, _typename(x), _typename(data)))
        value = number(data, what + ".data", depth + 1, wrapped)
        if wrapped and depth == 0:
            _note(_typename(x), what, "data")
        return value
    try:
        value = _state["to_float"](x)
    except KeyboardInterrupt:  # the timeout's interrupt
        raise
    except BaseException as exc:  # noqa: BLE001 -- whatever the object does, it is not a number
        raise _Unplain("%s is a %s, not a number (%s)" % (what, _typename(x), _describe(exc)))
    if type(value) is not float:
        raise _Unplain("%s is a %s, not a number" % (what, _typename(x)))
    if depth == 0:
        _note(_typename(x), what, "float")
    return value


def _take_notes():
    """The notes of this probe, as plain data: one per type, with the first place and a count."""
    notes = _state.pop("notes", {})
    return [{"type": _short(kind), "what": _short(what), "count": count, "how": how}
            for kind, (what, count, how) in notes.items()]


def vector(x, what):
    """A list, tuple or array of numbers as a list of exact floats."""
    if isinstance(x, (list, tuple)):
        items = list(x)
    elif hasattr(x, "tolist") and hasattr(x, "shape") and not isinstance(x, (str, bytes)):
        flat = x.ravel() if hasattr(x, "ravel") else x
        items = flat.tolist()
        if not isinstance(items, list):
            items = [items]
    else:
        raise _Unplain("%s is a %s, expected a list of numbers" % (what, _typename(x)))
    if len(items) > _MAX_LEN:
        raise _Unplain("%s has %d items, far too many" % (what, len(items)))
    return [number(v, "%s[%d]" % (what, i)) for i, v in enumerate(items)]


# ----------------------------------------------------------------------------- tasks

class _Missing(Exception):
    pass


def _name(name):
    ns = _state["shell"].user_ns
    if name not in ns:
        raise _Missing(name)
    return ns[name]


def task_value(name):
    """The notebook's final value of a variable, as a list of numbers."""
    return vector(_name(name), name)


def task_call(name, args):
    """Call a student function with the given numbers; its result as a list of numbers."""
    fn = _name(name)
    return vector(fn(*args), "%s(...)" % name)


_UNARY = {
    "neg": lambda x: -x,
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "tanh": lambda x: x.tanh(),
    "relu": lambda x: x.relu(),
}
_BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
}
_WITH_CONST = {  # (node, constant)
    "addc": lambda x, c: x + c,
    "radd": lambda x, c: c + x,
    "subc": lambda x, c: x - c,
    "rsub": lambda x, c: c - x,
    "mulc": lambda x, c: x * c,
    "rmul": lambda x, c: c * x,
    "divc": lambda x, c: x / c,
    "rdiv": lambda x, c: c / x,
    "pow": lambda x, c: x ** c,
}


class _NodeError(Exception):
    def __init__(self, index, exc):
        Exception.__init__(self)
        self.index, self.exc = index, exc


def _build(value_cls, nodes):
    """The graph's nodes built with the student's class; a failing node is named by its index."""
    built = []
    for i, node in enumerate(nodes):
        op = node[0]
        try:
            if op == "leaf":
                v = value_cls(node[1])
            elif op in _UNARY:
                v = _UNARY[op](built[node[1]])
            elif op in _BINARY:
                v = _BINARY[op](built[node[1]], built[node[2]])
            else:
                v = _WITH_CONST[op](built[node[1]], node[2])
        except (Exception, SystemExit) as exc:
            raise _NodeError(i, exc)
        built.append(v)
    return built


def task_graph(cls_name, nodes):
    """Build an expression graph from the student's Value class, backpropagate, report numbers."""
    built = _build(_name(cls_name), nodes)
    try:
        built[-1].backward()
    except (Exception, SystemExit) as exc:
        raise _NodeError(-1, exc)
    leaves = [i for i, node in enumerate(nodes) if node[0] == "leaf"]
    return {
        "data": [number(v.data, "node %d .data" % i) for i, v in enumerate(built)],
        "grad": [number(built[i].grad, "leaf %d .grad" % i) for i in leaves],
    }


def task_softmax_nll(cls_name, fn_name, logits, label):
    """Student's softmax on fresh Values, loss = -probs[label].log(), backward; report numbers."""
    value_cls = _name(cls_name)
    softmax = _name(fn_name)
    xs = [value_cls(x) for x in logits]
    probs = list(softmax(xs))
    if len(probs) != len(xs):
        raise _Unplain("softmax returned %d probabilities for %d logits" % (len(probs), len(xs)))
    loss = -probs[label].log()
    loss.backward()
    return {
        "loss": number(loss.data, "loss.data"),
        "probs": [number(p.data, "probs[%d].data" % i) for i, p in enumerate(probs)],
        "grad": [number(x.grad, "logits[%d].grad" % i) for i, x in enumerate(xs)],
    }


def _read(v, attr, what):
    """``v.data`` or ``v.grad`` as a number; a missing attribute is an unusable answer."""
    try:
        x = getattr(v, attr)
    except (Exception, SystemExit) as exc:
        raise _Unplain("%s has no usable .%s (%s)" % (what, attr, _describe(exc)))
    return number(x, "%s.%s" % (what, attr))


def _backward(out):
    """``out.backward()``; a RecursionError escapes so that the report says it was recursion."""
    try:
        out.backward()
    except RecursionError:
        raise
    except (Exception, SystemExit) as exc:
        raise _NodeError(-1, exc)


def task_autograd(cls_name, nodes):
    """Build a graph from the student's class, backpropagate, report every node's data and grad."""
    built = _build(_name(cls_name), nodes)
    _backward(built[-1])
    return {
        "data": [_read(v, "data", "n%d" % i) for i, v in enumerate(built)],
        "grad": [_read(v, "grad", "n%d" % i) for i, v in enumerate(built)],
    }


def _seeded_backward(out, seed):
    """Backpropagate from ``out`` with ``out.grad = seed``, calling each node's ``_backward`` in
    reverse topological order of ``_prev``, as micrograd's backward() does but with a seed that is
    not 1, so that a _backward that forgets to multiply by ``out.grad`` shows. Without ``_prev`` and
    ``_backward`` the student's own backward() runs instead; the seed used is returned."""
    topo, seen, stack = [], set(), [(out, False)]
    while stack:
        v, done = stack.pop()
        if done:
            topo.append(v)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        children = getattr(v, "_prev", None)
        if children is None or not callable(getattr(v, "_backward", None)) or len(topo) > _MAX_LEN:
            _backward(out)
            return 1.0
        stack.append((v, True))
        stack.extend((c, False) for c in list(children))
    try:
        out.grad = seed
        for v in reversed(topo):
            v._backward()
    except RecursionError:
        raise
    except (Exception, SystemExit) as exc:
        raise _NodeError(-1, exc)
    return seed


def task_op_case(cls_name, nodes, seed):
    """One operation alone (or a node used twice): built twice, once backpropagated by the student's
    own backward(), once with the output's grad seeded to ``seed``; both sets of input grads."""
    value_cls = _name(cls_name)
    leaves = [i for i, node in enumerate(nodes) if node[0] == "leaf"]
    plain = _build(value_cls, nodes)
    _backward(plain[-1])
    built = _build(value_cls, nodes)
    used = _seeded_backward(built[-1], seed)
    return {"data": [_read(v, "data", "n%d" % i) for i, v in enumerate(built)],
            "grad": [_read(built[i], "grad", "n%d" % i) for i in leaves], "seed": used,
            "plain": [_read(plain[i], "grad", "n%d" % i) for i in leaves]}


def task_chain(cls_name, x, mults, adds, steps, limit):
    """``v = v * m + a`` for ``steps`` links from one leaf, then backward() under a recursion limit."""
    import sys

    value_cls = _name(cls_name)
    try:
        leaf = value_cls(x)
    except (Exception, SystemExit) as exc:
        raise _NodeError(0, exc)
    v = leaf
    for i in range(steps):
        try:
            v = v * mults[i % len(mults)] + adds[i % len(adds)]
        except (Exception, SystemExit) as exc:
            raise _NodeError(i + 1, exc)
    old = sys.getrecursionlimit()
    try:
        if old > limit:  # a notebook that raised the limit gets Python's default back for this probe
            sys.setrecursionlimit(limit)
        _backward(v)
    finally:
        sys.setrecursionlimit(old)
    return {"data": _read(v, "data", "the output"), "grad": _read(leaf, "grad", "the leaf")}


TASKS = {"value": task_value, "call": task_call, "graph": task_graph, "op_case": task_op_case,
         "softmax_nll": task_softmax_nll, "autograd": task_autograd, "chain": task_chain}


# ----------------------------------------------------------------------------- networks (mlp, training)

def _scalar(v, what):
    """A student's number: a ``Value`` (its ``.data``, read as ``number`` reads one) or a number."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return number(v, what)
    if _own_data(v) is _NO:
        return _read(v, "data", what)
    return number(v, what, wrapped=False)


def _net_params(model):
    """The parameters in the documented order: ``model.layers[i].neurons[j]``: ``w[0..]``, then ``b``."""
    params, shape = [], []
    for layer in model.layers:
        widths = []
        for neuron in layer.neurons:
            w = list(neuron.w)
            widths.append(len(w))
            params.extend(w)
            params.append(neuron.b)
        shape.append(widths)
    return params, shape


def _net(cls_name, nin, nouts):
    cls = _name(cls_name)
    model = cls(nin, list(nouts))
    params, shape = _net_params(model)
    return model, params, shape


def _outputs(out, what):
    """A network's output: one ``Value`` or a list of them, as a list."""
    return list(out) if isinstance(out, (list, tuple)) else [out]


def task_mlp(cls_name, nin, nouts, x, target):
    """Build ``MLP(nin, nouts)``, read its parameters, run ``x``, backpropagate the squared error.

    The loss ``sum((out - target)**2)`` is built here from the student's own ``Value`` operations.
    ``parameters()`` and ``zero_grad()`` are checked after that; their errors are reported, not raised.
    """
    model, params, shape = _net(cls_name, nin, nouts)
    weights = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    outs = _outputs(model(list(x)), "the output")
    if len(outs) != len(target):
        raise _Unplain("MLP(%d, %r) returned %d outputs, expected %d"
                       % (nin, list(nouts), len(outs), len(target)))
    out_data = [_scalar(o, "output %d" % i) for i, o in enumerate(outs)]
    loss = None
    for o, t in zip(outs, target):
        term = (o - t) ** 2
        loss = term if loss is None else loss + term
    loss.backward()
    result = {"shape": shape, "weights": weights, "out": out_data,
              "loss": _read(loss, "data", "the loss"),
              "grads": [_read(p, "grad", "parameter %d" % i) for i, p in enumerate(params)],
              "count": -1, "same_order": False, "parameters_error": "", "zero_grad_error": "",
              "zeroed": [], "kept": []}
    try:
        listed = list(model.parameters())
        result["count"] = len(listed)
        result["same_order"] = len(listed) == len(params) and all(
            a is b for a, b in zip(listed, params))
    except (Exception, SystemExit) as exc:
        result["parameters_error"] = _describe(exc)
    try:
        model.zero_grad()
        result["zeroed"] = [_read(p, "grad", "parameter %d" % i) for i, p in enumerate(params)]
        result["kept"] = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    except _Unplain:
        raise
    except (Exception, SystemExit) as exc:
        result["zero_grad_error"] = _describe(exc)
    return result


def task_net_loss(cls_name, nin, nouts, fn_name, args):
    """``fn(MLP(nin, nouts), *args)`` must return a loss ``Value``; backpropagate it, report numbers."""
    fn = _name(fn_name)
    model, params, shape = _net(cls_name, nin, nouts)
    weights = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    loss = fn(model, *args)
    data = _read(loss, "data", "the loss")
    loss.backward()
    return {"shape": shape, "weights": weights, "loss": data,
            "grads": [_read(p, "grad", "parameter %d" % i) for i, p in enumerate(params)]}


def task_net_train(cls_name, nin, nouts, fn_name, args, calls):
    """Call ``fn(model, *args)`` ``calls`` times on a fresh ``MLP(nin, nouts)``; report what it
    returned (a loss, or a list of losses) and the parameters before and after each call."""
    fn = _name(fn_name)
    model, params, shape = _net(cls_name, nin, nouts)
    before = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    returned, after = [], []
    for _ in range(calls):
        ret = fn(model, *args)
        if isinstance(ret, (list, tuple)):
            if len(ret) > _MAX_LEN:
                raise _Unplain("%s returned %d items, far too many" % (fn_name, len(ret)))
            returned.append([_scalar(v, "%s(...)[%d]" % (fn_name, i)) for i, v in enumerate(ret)])
        else:
            returned.append(_scalar(ret, "the loss %s(...) returned" % fn_name))
        after.append([_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)])
    return {"shape": shape, "before": before, "returned": returned, "after": after}


def task_predict(model_name, points):
    """The notebook's trained ``model`` on each point: its output(s) as numbers."""
    model = _name(model_name)
    if model is None:
        raise _Unplain("%s is None: build the model and train it" % model_name)
    return [[_scalar(o, "the output") for o in _outputs(model(list(x)), "the output")]
            for x in points]


def task_sigmoid(cls_name, method, xs):
    """For each x: ``v = Value(x)``; ``v.sigmoid() + v.sigmoid()``, backward; the sigmoid and ``v.grad``."""
    value_cls = _name(cls_name)
    data, grads = [], []
    for x in xs:
        v = value_cls(x)
        first = getattr(v, method)()
        out = first + getattr(v, method)()
        out.backward()
        data.append(_read(first, "data", "%s(%r)" % (method, x)))
        grads.append(_read(v, "grad", "the input's"))
    return {"data": data, "grad": grads}


def task_softmax_ce(cls_name, softmax_name, ce_name, logits, label):
    """``softmax`` on fresh Values (probabilities), and ``cross_entropy(logits, label)`` backpropagated."""
    value_cls = _name(cls_name)
    softmax = _name(softmax_name)
    cross_entropy = _name(ce_name)
    probs = list(softmax([value_cls(x) for x in logits]))
    if len(probs) > _MAX_LEN:
        raise _Unplain("softmax returned far too many values")
    xs = [value_cls(x) for x in logits]
    loss = cross_entropy(xs, label)
    data = _read(loss, "data", "the loss")
    loss.backward()
    return {"probs": [_scalar(p, "probs[%d]" % i) for i, p in enumerate(probs)], "loss": data,
            "grad": [_read(x, "grad", "logits[%d]" % i) for i, x in enumerate(xs)]}


TASKS.update({"mlp": task_mlp, "net_loss": task_net_loss, "net_train": task_net_train,
              "predict": task_predict, "sigmoid": task_sigmoid, "softmax_ce": task_softmax_ce})


def probe(nonce, task, args):
    """Run one task and publish exactly one tagged result (KeyboardInterrupt from a timeout escapes)."""
    _state.pop("notes", None)
    try:
        result = {"status": "ok", "value": TASKS[task](*args)}
        notes = _take_notes()
        if notes:
            result["notes"] = notes
    except _Missing as exc:
        result = {"status": "missing", "name": _short(exc.args[0])}
    except _Unplain as exc:
        result = {"status": "invalid", "detail": _short(exc.args[0])}
    except _NodeError as exc:
        result = {"status": "raised", "node": exc.index, "detail": _describe(exc.exc)}
    except RecursionError as exc:
        result = {"status": "raised", "detail": _describe(exc), "recursion": True}
    except KeyboardInterrupt:  # the timeout's interrupt: the grader records the time limit
        raise
    except BaseException as exc:  # noqa: BLE001 -- a student's own BaseException costs this answer only
        result = {"status": "raised", "detail": _describe(exc)}
    _state["publish"]({MIME: nonce + _encode(result)}, {})
