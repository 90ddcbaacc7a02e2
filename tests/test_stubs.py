"""The hand-written stub ``python/gpuplane/_core.pyi`` matches the compiled module ``gpuplane._core``."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import gpuplane
import pytest
from gpuplane import _core

STUB_PATH = Path(gpuplane.__file__).with_name("_core.pyi")
STUB = ast.parse(STUB_PATH.read_text(encoding="utf-8"))

# Dunders every class has (from ``object``) that a stub need not list.
IMPLICIT_DUNDERS = {"__init__", "__new__", "__repr__", "__eq__", "__hash__"}


def is_public(name: str) -> bool:
    return not name.startswith("_") or name == "__version__"


def stub_module_names() -> set[str]:
    names = set()
    for node in STUB.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return {n for n in names if is_public(n)}


def stub_classes() -> dict[str, ast.ClassDef]:
    """The stub's classes of the module (private ones, such as a TypedDict of keywords, are
    typing aids only)."""
    return {n.name: n for n in STUB.body if isinstance(n, ast.ClassDef) and is_public(n.name)}


def decorators(fn: ast.FunctionDef) -> set[str]:
    out = set()
    for d in fn.decorator_list:
        if isinstance(d, ast.Name):
            out.add(d.id)
        elif isinstance(d, ast.Attribute):
            out.add(d.attr)
    return out


def stub_members(cls: ast.ClassDef) -> dict[str, str]:
    """Member name -> 'property' | 'attribute' | 'method' | 'classmethod' | 'staticmethod'."""
    out: dict[str, str] = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            decos = decorators(node)
            if "property" in decos:
                out[node.name] = "property"
            elif "classmethod" in decos:
                out[node.name] = "classmethod"
            elif "staticmethod" in decos:
                out[node.name] = "staticmethod"
            else:
                out[node.name] = "method"
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = "attribute"
    return out


def runtime_public(cls: type) -> set[str]:
    return {n for n in vars(cls) if not n.startswith("_")}


def parse_text_signature(text: str) -> ast.arguments:
    """Parses a ``__text_signature__`` such as ``($self, a, b=None, *, c=...)``."""
    text = text.replace("$self, ", "").replace("$cls, ", "").replace("($self)", "()").replace("($cls)", "()")
    text = text.replace("$", "")
    fn = ast.parse(f"def f{text}: pass").body[0]
    assert isinstance(fn, ast.FunctionDef)
    return fn.args


def params(args: ast.arguments, drop_first: bool) -> list[tuple[str, str, object]]:
    """(name, kind, default) per parameter; default is a literal, ``...`` if unknowable, or ``NO``."""
    positional = [*args.posonlyargs, *args.args]
    if drop_first:
        positional = positional[1:]

    def literal(node):
        if node is None:
            return "NO"
        try:
            value = ast.literal_eval(node)
        except ValueError:
            return ...
        return ... if value is Ellipsis else value

    n_defaults = len(args.defaults)
    pos_defaults = [None] * (len([*args.posonlyargs, *args.args]) - n_defaults) + list(args.defaults)
    if drop_first:
        pos_defaults = pos_defaults[1:]
    out = [(a.arg, "positional", literal(d)) for a, d in zip(positional, pos_defaults, strict=True)]
    if args.vararg:
        out.append((args.vararg.arg, "var_positional", "NO"))
    out += [
        (a.arg, "keyword_only", literal(d)) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg:
        out.append((args.kwarg.arg, "var_keyword", "NO"))
    return out


def same_defaults(stub_default, real_default) -> bool:
    if stub_default is ... or real_default is ...:
        # the runtime cannot always spell a default (e.g. an empty Vec); then only presence counts
        return (stub_default == "NO") == (real_default == "NO")
    if isinstance(stub_default, tuple | list) and isinstance(real_default, tuple | list):
        return list(stub_default) == list(real_default)
    return stub_default == real_default


# --------------------------------------------------------------------------------------------------


def test_stub_parses_and_is_not_empty():
    assert stub_classes(), STUB_PATH
    assert "Cluster" in stub_classes()


def test_module_names_match():
    real = {n for n in dir(_core) if is_public(n)}
    stub = stub_module_names()
    assert stub - real == set(), f"in the stub but not in gpuplane._core: {sorted(stub - real)}"
    assert real - stub == set(), f"in gpuplane._core but not in the stub: {sorted(real - stub)}"


def test_module_constant_types_match():
    annotations = {
        n.target.id: ast.unparse(n.annotation)
        for n in STUB.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and is_public(n.target.id)
    }
    checks = {"str": str, "int": int, "list[str]": list, "list[float]": list}
    items = {"list[str]": str, "list[float]": float}
    for name, annotation in annotations.items():
        assert annotation in checks, f"no runtime check for {name}: {annotation}"
        value = getattr(_core, name)
        assert isinstance(value, checks[annotation]), (name, annotation, value)
        if annotation in items:
            assert all(isinstance(v, items[annotation]) for v in value), (name, value)


def test_package_reexports_the_core():
    for name in stub_module_names():
        assert getattr(gpuplane, name) is getattr(_core, name), name


@pytest.mark.parametrize("name", sorted(stub_classes()))
def test_class_members_match(name):
    cls = getattr(_core, name)
    assert isinstance(cls, type), name
    members = stub_members(stub_classes()[name])
    public_stub = {m for m in members if not m.startswith("_")}
    real = runtime_public(cls)
    assert public_stub - real == set(), f"{name}: in the stub only: {sorted(public_stub - real)}"
    assert real - public_stub == set(), f"{name}: on the class only: {sorted(real - public_stub)}"
    for member, kind in members.items():
        if member.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, member)
        if kind in ("property", "attribute"):
            assert hasattr(raw, "__get__") and not callable(raw), f"{name}.{member} is not a data descriptor"
            assert hasattr(raw, "__set__"), f"{name}.{member} is not a descriptor"
        elif kind == "classmethod":
            assert type(raw).__name__ in ("classmethod_descriptor", "classmethod"), (name, member, raw)
        elif kind == "staticmethod":
            assert isinstance(raw, staticmethod), (name, member, raw)
        else:
            assert callable(raw) and type(raw).__name__ in ("method_descriptor", "function"), (name, member)


@pytest.mark.parametrize("name", sorted(stub_classes()))
def test_class_dunders_in_stub_exist(name):
    cls = getattr(_core, name)
    members = stub_members(stub_classes()[name])
    for member in (m for m in members if m.startswith("__") and m not in IMPLICIT_DUNDERS):
        assert member in vars(cls), f"{name}.{member} is in the stub but the class does not define it"
    # dunders the class defines itself (beyond object's) must be in the stub
    own = {
        m
        for m in vars(cls)
        if m.startswith("__")
        and m.endswith("__")
        and callable(getattr(cls, m))
        and getattr(cls, m) is not getattr(object, m, None)
    }
    protocol = {"__len__", "__contains__", "__iter__", "__getitem__", "__call__", "__bool__", "__enter__"}
    missing = {m for m in own & protocol if m not in members}
    assert missing == set(), f"{name}: protocol methods missing from the stub: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(stub_classes()))
def test_constructibility_matches_stub(name):
    """A class whose stub has no ``__init__`` cannot be built from Python; one with it can."""
    cls = getattr(_core, name)
    members = stub_members(stub_classes()[name])
    if "__init__" in members:
        assert cls.__text_signature__ is not None, f"{name} has an __init__ in the stub but no constructor"
    else:
        with pytest.raises(TypeError):
            cls()


def signature_cases():
    for cname, cdef in sorted(stub_classes().items()):
        for node in cdef.body:
            if isinstance(node, ast.FunctionDef) and (
                not node.name.startswith("_") or node.name == "__init__"
            ):
                if "property" in decorators(node):
                    continue
                yield pytest.param(cname, node, id=f"{cname}.{node.name}")


@pytest.mark.parametrize(("cname", "fn"), list(signature_cases()))
def test_method_signatures_match(cname, fn):
    cls = getattr(_core, cname)
    if fn.name == "__init__":
        text = cls.__text_signature__
    else:
        text = getattr(getattr(cls, fn.name), "__text_signature__", None)
    if text is None:
        pytest.skip(f"{cname}.{fn.name} has no __text_signature__")
    is_static = "staticmethod" in decorators(fn)
    stub = params(fn.args, drop_first=not is_static)
    real = params(parse_text_signature(text), drop_first=False)
    assert [(n, k) for n, k, _ in stub] == [(n, k) for n, k, _ in real], f"{cname}.{fn.name}: {text}"
    for (n, _, sd), (_, _, rd) in zip(stub, real, strict=True):
        assert same_defaults(sd, rd), f"{cname}.{fn.name}({n}=...): stub {sd!r}, runtime {rd!r}"


def test_every_runtime_callable_was_signature_checked():
    """Nothing public escapes the signature check for want of a stub entry."""
    checked = {(c, f.name) for c, f in (p.values for p in signature_cases())}
    for cname in stub_classes():
        cls = getattr(_core, cname)
        for member in runtime_public(cls):
            raw = inspect.getattr_static(cls, member)
            if callable(raw) or type(raw).__name__ == "classmethod_descriptor":
                assert (cname, member) in checked, f"{cname}.{member}"
