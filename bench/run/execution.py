"""How Keras executes each trial's training: batches per compiled step and XLA/JIT compilation, the same for every backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.errors import UsageError, excerpt

JIT_CHOICES = ("auto", "on", "off")
MAX_STEPS_PER_EXECUTION = 2**31 - 1  # Keras keeps it in a 32-bit counter on some backends; more would overflow in every trial


@dataclass(frozen=True)
class ExecutionSettings:
    """Applied by the harness to every model the task builds, after its own `compile`, before the first batch.

    steps_per_execution: batches run per call of the compiled train step (None: as the task compiles its model; Keras's
    default is 1). jit_compile: "auto" leaves the task's choice (Keras resolves "auto" by backend and device), "on"/"off"
    force XLA (TensorFlow, JAX) or torch.compile on or off.
    """

    steps_per_execution: int | None = None
    jit_compile: str = "auto"

    def __post_init__(self) -> None:
        steps = self.steps_per_execution
        if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS_PER_EXECUTION):
            raise UsageError(f"--steps-per-execution must be an integer from 1 to {MAX_STEPS_PER_EXECUTION}, but got {excerpt(steps)}")
        if self.jit_compile not in JIT_CHOICES:
            raise UsageError(f"--jit-compile must be one of {', '.join(JIT_CHOICES)}, but got {excerpt(self.jit_compile)}")

    def check_keras_backend(self, keras_backend: str) -> None:
        """Refuse what a Keras backend cannot do, before any trial."""
        if keras_backend == "torch" and (self.steps_per_execution or 1) > 1:
            raise UsageError(f"--steps-per-execution {self.steps_per_execution}: Keras's torch backend runs one batch per step; "
                             "use 1, or --keras-backend jax or tensorflow")

    def apply(self, model: Any) -> dict[str, Any]:
        """Set the settings on a compiled Keras model (read when `fit` makes its train function); return the effective ones."""
        if self.steps_per_execution is not None and hasattr(model, "steps_per_execution"):
            model.steps_per_execution = self.steps_per_execution
        if self.jit_compile != "auto" and hasattr(model, "jit_compile"):
            model.jit_compile = self.jit_compile == "on"  # Keras falls back to False (with a warning) where XLA cannot run the model
        return {"steps_per_execution": getattr(model, "steps_per_execution", None),
                "jit_compile": bool(getattr(model, "jit_compile", False))}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
