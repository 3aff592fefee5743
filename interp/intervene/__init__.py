"""Interventions (floor 3): ablation (zero / mean / resample, neurons, channels and heads), activation patching,
the evaluations causal experiments measure, and the one control engine with its unit kinds."""
from .ablate import HeadAblation, Reference, collect_reference, head_contribution_stats, head_means, neuron_ablation
from .controls import (ControlDesign, ControlResult, Evaluation, Metric, UnitPool, draw_control_sets, run_controls)
from .evals import Task, ZeroShotEval, ior_eval, stroop_eval
from .patching import PatchResult, patch_heads, patch_sites

__all__ = ["neuron_ablation", "collect_reference", "Reference", "HeadAblation", "head_means", "head_contribution_stats", "ZeroShotEval", "Task",
           "stroop_eval", "ior_eval", "ControlDesign", "ControlResult", "Evaluation", "Metric", "UnitPool",
           "draw_control_sets", "run_controls", "patch_sites", "patch_heads", "PatchResult"]
