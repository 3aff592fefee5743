"""Interventions: ablation (zero / mean / resample, neurons and heads), activation patching, causal experiments
with matched random controls (floor 3)."""
from .ablate import HeadAblation, Reference, collect_reference, head_means, neuron_ablation
from .experiment import AblationResult, ZeroShotEval, ablation_experiment, matched_random_sets, stroop_eval
from .patching import PatchResult, patch_heads, patch_sites

__all__ = ["neuron_ablation", "collect_reference", "Reference", "HeadAblation", "head_means", "ZeroShotEval",
           "ablation_experiment", "matched_random_sets", "stroop_eval", "AblationResult", "patch_sites", "patch_heads",
           "PatchResult"]
