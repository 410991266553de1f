"""gce's information-flow estimator on hand-built decoders and classifiers whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.gce.information_flow import (
    SAMPLE_CONVENTIONS,
    classify_codes,
    entropy,
    flow_from_probs,
    joint_codes,
    joint_flow,
    per_dimension_codes,
    per_dimension_flow,
    sample_counts,
)

LOG2 = math.log(2)


def hard_reader(dim: int):
    """Identity "decoder" and a two-class classifier that decides, with certainty, by the sign of coordinate
    ``dim`` only."""
    def probs_of(codes: torch.Tensor) -> torch.Tensor:
        positive = (codes[:, dim] > 0).float()
        return torch.stack([1 - positive, positive], dim=1)
    return probs_of


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_flow_from_probs_known_tables():
    # two α draws that decide the class for sure: I = H(q) = log 2, mean H(p_i) = 0
    certain = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert flow_from_probs(certain).item() == pytest.approx(LOG2, abs=1e-6)
    # p(y | α) the same for every α: no information whatever q is
    same = torch.tensor([[[0.7, 0.3], [0.1, 0.9]], [[0.2, 0.8], [0.6, 0.4]]])
    assert flow_from_probs(same).item() == pytest.approx(0.0, abs=1e-6)
    # leading dims are independent estimates
    assert flow_from_probs(torch.stack([certain, certain])).shape == (2,)


def test_classifier_reading_only_alpha_gives_the_entropy_of_its_output():
    # K=1 causal coordinate, L=3 others; the classifier reads α alone, so I(α;Ŷ) = H(Ŷ) (log 2 for a sign)
    n_alpha, n_beta = 400, 20
    codes = joint_codes(4, [0], n_alpha, n_beta, gen(1))
    probs = classify_codes(hard_reader(0), codes)
    h_y = entropy(probs.mean((0, 1))).item()  # H(Ŷ) of the same samples
    flow = joint_flow(hard_reader(0), 1, 4, n_alpha, n_beta, gen(1)).item()
    assert flow == pytest.approx(h_y, abs=1e-4)
    assert flow == pytest.approx(LOG2, abs=0.01)


def test_classifier_ignoring_alpha_gives_zero():
    # the classifier reads β_1 (coordinate 2): p(y|α_i) ≈ q for every α_i; the estimator's bias is
    # about (M − 1)/(2 Nβ) per α draw
    flow = joint_flow(hard_reader(2), 2, 5, 50, 2000, gen(2)).item()
    assert 0 <= flow < 2e-3
    constant = joint_flow(lambda z: torch.full((len(z), 3), 1 / 3), 1, 3, 10, 10, gen(3)).item()
    assert constant == pytest.approx(0.0, abs=1e-6)


def test_no_causal_factor_has_no_flow():
    assert joint_flow(hard_reader(0), 0, 3, 10, 10, gen()).item() == 0.0


def test_per_dimension_flow_finds_the_one_coordinate_the_classifier_reads():
    flows = per_dimension_flow(hard_reader(1), 4, 300, 300, gen(4), chunk_size=10_000)
    assert flows.shape == (4,)
    assert flows[1].item() == pytest.approx(LOG2, abs=0.01)
    for d in (0, 2, 3):
        assert 0 <= flows[d].item() < 5e-3


def test_codes_share_the_fixed_coordinates_and_redraw_the_others():
    z = joint_codes(5, [0, 1], 3, 4, gen())
    assert z.shape == (3, 4, 5)
    assert torch.equal(z[:, :1, :2].expand(3, 4, 2), z[:, :, :2])  # α shared across the Nβ draws
    assert not torch.equal(z[:, 0, 2:], z[:, 1, 2:])  # β redrawn
    assert not torch.equal(z[0, 0, :2], z[1, 0, :2])  # α differs between outer draws
    blocks = per_dimension_codes(3, 2, 5, gen())
    assert blocks.shape == (3, 2, 5, 3)
    for d in range(3):
        fixed = blocks[d, :, :, d]
        assert torch.equal(fixed, fixed[:, :1].expand(2, 5))
        other = blocks[d, :, :, (d + 1) % 3]
        assert not torch.equal(other, other[:, :1].expand(2, 5))


def test_chunking_does_not_change_the_estimate():
    def soft(z):
        return torch.softmax(torch.stack([z[:, 0], z[:, 1] - z[:, 2], z[:, 0] * z[:, 2]], 1), 1)
    whole = per_dimension_flow(soft, 3, 20, 30, gen(5), chunk_size=None)
    chunked = per_dimension_flow(soft, 3, 20, 30, gen(5), chunk_size=7)
    assert torch.allclose(whole, chunked, atol=1e-6)


def test_flow_is_differentiable_through_the_decoder():
    scale = torch.tensor(0.01, requires_grad=True)  # a "decoder" that shrinks α: small scale, little flow

    def probs_of(z):
        logit = 20 * scale * z[:, 0]
        return torch.softmax(torch.stack([-logit, logit], 1), 1)
    flow = joint_flow(probs_of, 1, 2, 50, 10, gen(6))
    flow.backward()
    assert scale.grad is not None and scale.grad.item() > 0  # more scale, more information


def test_both_sample_conventions_are_named():
    assert sample_counts("original") == (25, 100) == SAMPLE_CONVENTIONS["original"]
    assert sample_counts("fact") == (100, 25)
    assert sample_counts("custom", 3, 4) == (3, 4)
    with pytest.raises(ValueError, match="unknown sample convention"):
        sample_counts("siplab")
