"""A stand-in for the ``tensorrt`` module that runs synthsight's engine-build logic on a CPU.

It checks our logic (what is called, in which order, what happens when TensorRT says no), never
TensorRT's. Every public attribute the code reads from it - module, classes, instances, enum
members - is recorded (:func:`recorded`), so a test can compare the names against the real
TensorRT 11.4 bindings (tests/data/tensorrt-11.4-names.txt).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_USED: set[str] = set()


class _RecordingType(type):
    def __getattribute__(cls, name):
        if not name.startswith("_"):
            _USED.add(name)
        return super().__getattribute__(name)


class Recorded(metaclass=_RecordingType):
    def __getattribute__(self, name):
        if not name.startswith("_"):
            _USED.add(name)
        return object.__getattribute__(self, name)


@dataclass
class Behaviour:
    """What the fake TensorRT does: its version, whether parsing and building succeed, the cache verdict."""

    version: str = "11.4.0.106"
    parse_ok: bool = True
    plan: bytes | None = b"PLAN-BYTES"
    accept_cache: bool = True  # set_timing_cache's answer for a cache read from a file
    input_shape: tuple[int, ...] = (-1, 64, 64, 3)
    calls: list[tuple] = field(default_factory=list)


class Severity(Recorded):
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = "internal_error", "error", "warning", "info", "verbose"


class ILogger(Recorded):
    Severity = Severity

    def __init__(self):
        pass


class MemoryPoolType(Recorded):
    WORKSPACE = "workspace"


class NetworkDefinitionCreationFlag(Recorded):
    STRONGLY_TYPED = 0


class Tensor(Recorded):
    def __init__(self, name, shape):
        self.name, self.shape = name, shape


class Network(Recorded):
    def __init__(self, behaviour: Behaviour):
        self._b = behaviour
        self.num_inputs = 1

    def get_input(self, index):
        return Tensor("pixels", self._b.input_shape)


class ParserError(Recorded):
    def desc(self):
        return "TensorRT does not support UINT8 types for intermediate tensors"

    def node_name(self):
        return "/Transpose"

    def node_operator(self):
        return "Transpose"


class TimingCache(Recorded):
    def __init__(self, data: bytes):
        self._data = data

    def serialize(self):
        return b"TIMING-CACHE:" + self._data


class Profile(Recorded):
    def __init__(self, behaviour: Behaviour):
        self._b = behaviour

    def set_shape(self, name, low, opt, high):
        self._b.calls.append(("set_shape", name, low, opt, high))


class BuilderConfig(Recorded):
    def __init__(self, behaviour: Behaviour):
        self._b, self._cache = behaviour, None

    def set_memory_pool_limit(self, pool, size):
        self._b.calls.append(("set_memory_pool_limit", pool, size))

    def add_optimization_profile(self, profile):
        self._b.calls.append(("add_optimization_profile",))

    def create_timing_cache(self, data):
        if data.startswith(b"garbage"):
            raise RuntimeError("bad timing cache")
        return TimingCache(bytes(data))

    def set_timing_cache(self, cache, ignore_mismatch):
        accepted = self._b.accept_cache or not cache._data
        self._b.calls.append(("set_timing_cache", cache._data, ignore_mismatch, accepted))
        if accepted:
            self._cache = cache
        return accepted

    def get_timing_cache(self):
        return self._cache


class Builder(Recorded):
    def __init__(self, logger):
        self._logger = logger

    def create_network(self, flags):
        FakeTensorRT._current.calls.append(("create_network", flags))
        return Network(FakeTensorRT._current)

    def create_builder_config(self):
        return BuilderConfig(FakeTensorRT._current)

    def create_optimization_profile(self):
        return Profile(FakeTensorRT._current)

    def build_serialized_network(self, network, config):
        FakeTensorRT._current.calls.append(("build_serialized_network",))
        plan = FakeTensorRT._current.plan
        if plan is None:
            self._logger.log(Severity.ERROR, "[builder] out of device memory")
        else:
            self._logger.log(Severity.INFO, "[builder] chatter nobody needs")
        return plan


class OnnxParser(Recorded):
    def __init__(self, network, logger):
        self._b = FakeTensorRT._current

    def parse_from_file(self, path):
        self._b.calls.append(("parse_from_file", path))
        return self._b.parse_ok

    @property
    def num_errors(self):
        return 0 if self._b.parse_ok else 1

    def get_error(self, index):
        return ParserError()


class FakeTensorRT(Recorded):
    """Use as the ``tensorrt`` module: ``FakeTensorRT(behaviour)``; ``behaviour.calls`` logs what was done."""

    _current: Behaviour = Behaviour()
    ILogger, Builder, OnnxParser = ILogger, Builder, OnnxParser
    MemoryPoolType, NetworkDefinitionCreationFlag = MemoryPoolType, NetworkDefinitionCreationFlag

    def __init__(self, behaviour: Behaviour):
        type(self)._current = behaviour
        self.__version__ = behaviour.version
        _USED.clear()


def recorded() -> set[str]:
    """The public names read from the fake since it was last created."""
    return set(_USED)
