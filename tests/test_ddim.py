import pytest
import torch

from motion_model.learner.condition import CONDITIONS, column, keep_mask
from motion_model.learner.ddim import CosineSchedule, guided_x0, sample


class LinearModel(torch.nn.Module):
    """A stand-in network whose output depends on x_t, t and every condition (and ignores dropped ones)."""

    def __init__(self, frames=6, features=4):
        super().__init__()
        self.config = type("Config", (), {"frames": frames, "features": features})
        self.calls = 0

    def forward(self, x_t, t, cond):
        self.calls += 1
        keep = cond["keep"].float()
        out = 0.5 * x_t + (t.float() / 1000)[:, None, None]
        out = out + keep[:, column("terrain"), None, None] * cond["terrain"].mean((1, 2))[:, None, None]
        out = out + keep[:, column("target"), None, None] * cond["target"][:, :1, None]
        return out + keep[:, column("prev"), None, None] * cond["prev"].mean(1, keepdim=True)


def make_cond(batch=3, features=4, generator=None):
    return {
        "terrain": torch.randn(batch, 5, 4, generator=generator),
        "target": torch.randn(batch, 3, generator=generator),
        "prev": torch.randn(batch, 2, features, generator=generator),
        "prev_clean": torch.ones(batch, dtype=torch.bool),
        "keep": keep_mask(batch),
    }


def test_cosine_schedule_properties():
    schedule = CosineSchedule(1000)
    a = schedule.alphas_cumprod
    assert len(a) == 1000
    assert (a[1:] < a[:-1]).all()
    assert 0.999 < a[0] < 1 and 0 <= a[-1] < 1e-3
    x0, noise = torch.randn(2000, 8), torch.randn(2000, 8)
    x_t = schedule.add_noise(x0, noise, torch.full((2000,), 500))
    assert abs(x_t.var().item() - 1) < 0.05  # variance preserving


def test_timesteps_are_trailing_and_descending():
    schedule = CosineSchedule(1000)
    for n in (1, 4, 10, 1000):
        t = schedule.timesteps(n)
        assert len(t) == n and t[0] == 999 and (t[1:] < t[:-1]).all() and t[-1] >= 0
    for n in (0, 1001):
        with pytest.raises(ValueError, match="steps must be in"):
            schedule.timesteps(n)


def test_the_schedule_holds_no_state_of_a_run():
    # Two runs of different lengths interleaved on one schedule give what each gives alone.
    model, schedule, cond = LinearModel(), CosineSchedule(), make_cond()
    alone = [sample(model, cond, schedule, n, torch.Generator().manual_seed(1)) for n in (3, 7)]
    before = dict(vars(schedule))
    x = {n: torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(1)) for n in (3, 7)}
    runs = {n: schedule.timesteps(n).tolist() for n in (3, 7)}
    for i in range(7):
        for n in (3, 7):
            if i < n:
                t, t_prev = runs[n][i], (runs[n] + [-1])[i + 1]
                x0 = model(x[n], torch.full((3,), t), cond)
                x[n] = schedule.step(x0, t, t_prev, x[n])
    assert torch.equal(x[3], alone[0]) and torch.equal(x[7], alone[1])
    assert vars(schedule).keys() == before.keys()


@pytest.mark.parametrize("steps", [1, 3, 10, 50])
def test_ddim_with_the_true_x0_recovers_it(steps):
    schedule = CosineSchedule(1000)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 6, 5, generator=generator)
    timesteps = schedule.timesteps(steps).tolist()
    x = schedule.add_noise(x0, torch.randn(x0.shape, generator=generator), timesteps[0])
    for t, t_prev in zip(timesteps, timesteps[1:] + [-1]):
        x = schedule.step(x0, t, t_prev, x)
    assert torch.allclose(x, x0, atol=1e-5)


def test_ddpm_with_the_true_x0_recovers_it():
    schedule = CosineSchedule(100)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 4, generator=generator)
    x = torch.randn(3, 4, generator=generator)
    for t in range(99, -1, -1):
        x = schedule.ddpm_step(x0, t, x, generator)
    assert torch.allclose(x, x0, atol=1e-5)


def test_sampling_is_deterministic_for_a_seed():
    model, schedule, cond = LinearModel(), CosineSchedule(), make_cond()
    a = sample(model, cond, schedule, 8, torch.Generator().manual_seed(3))
    b = sample(model, cond, schedule, 8, torch.Generator().manual_seed(3))
    c = sample(model, cond, schedule, 8, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 6, 4)


def test_guidance_of_one_is_the_conditional_model_in_one_pass():
    model, cond = LinearModel(), make_cond()
    x, t = torch.randn(3, 6, 4), torch.full((3,), 700)
    plain = model(x, t, cond)
    model.calls = 0
    guided = guided_x0(model, x, t, cond, {c: 1.0 for c in CONDITIONS})
    assert torch.equal(guided, plain) and model.calls == 1


def test_guidance_scales_each_condition():
    model, cond = LinearModel(), make_cond()
    x, t = torch.randn(3, 6, 4), torch.full((3,), 700)
    full = model(x, t, cond)
    for c in CONDITIONS:
        without = model(x, t, {**cond, "keep": cond["keep"] & keep_mask(3, **{c: False})})
        assert torch.allclose(guided_x0(model, x, t, cond, {c: 0.0}), without, atol=1e-6)
        assert torch.allclose(guided_x0(model, x, t, cond, {c: 2.5}), full + 1.5 * (full - without), atol=1e-5)
    with pytest.raises(ValueError):
        guided_x0(model, x, t, cond, {"speed": 2.0})


def test_noisy_previous_frames_are_renoised_each_step():
    model, schedule = LinearModel(), CosineSchedule()
    cond = make_cond()
    clean = sample(model, cond, schedule, 4, torch.Generator().manual_seed(0))
    noisy = sample(
        model, {**cond, "prev_clean": torch.zeros(3, dtype=torch.bool)}, schedule, 4, torch.Generator().manual_seed(0)
    )
    assert not torch.allclose(clean, noisy)
