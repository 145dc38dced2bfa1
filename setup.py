"""The optional C speed-up for prediction (``workbench/tabular/_fastprep.c``); everything else is in
pyproject.toml. Without a C compiler the install still succeeds and prediction takes the numpy path, which
gives the same numbers (tests/test_predict_fast.py checks both)."""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuild(build_ext):
    """No fused multiply-add and no fast-math: the C arithmetic must round exactly like numpy's."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "msvc":
            flags = ["/O2", "/fp:precise"]
        else:
            flags = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
        for extension in self.extensions:
            extension.extra_compile_args = flags
        super().build_extensions()


setup(
    ext_modules=[Extension("workbench.tabular._fastprep", ["workbench/tabular/_fastprep.c"], optional=True)],
    cmdclass={"build_ext": OptionalBuild},
)
