"""``causerie models``: the model this configuration serves, and the GGUF files of the models
directory (``pull`` from the Hugging Face Hub, ``list``, ``rm``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from causerie.cli.options import load_settings, model_option
from causerie.errors import CauserieError, ConfigurationError


@click.group(invoke_without_command=True)
@model_option
@click.pass_context
def models(ctx: click.Context, /, **options: Any) -> None:
    """Without a subcommand: list the models this configuration serves.

    The models directory is CAUSERIE_MODELS_DIR (default: models/ in the data directory).
    """
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from causerie.providers.local import LocalProvider

    settings = load_settings(**options)
    try:
        provider = LocalProvider.from_settings(settings)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc
    for info in provider.models():
        click.echo(f"{info.id}\tcontext {info.context_window}\t{provider.model.path}")
    asyncio.run(provider.close())


@models.command("pull")
@click.argument("name")
def models_pull(name: str) -> None:
    """Download a GGUF from the Hugging Face Hub into the models directory.

    NAME is a catalog alias (see `causerie models catalog`), org/repo (its Q4_K_M file, else
    its smallest .gguf), org/repo:QUANT (the .gguf whose name contains QUANT) or
    org/repo:file.gguf. An interrupted pull resumes when run again; the file is kept only when
    its sha256 equals the hub's. HF_ENDPOINT selects a mirror, HF_TOKEN opens gated repos.
    """
    from causerie.hub.pull import pull

    models_dir = load_settings().resolved_models_dir()
    try:
        result = pull(name, models_dir)
    except CauserieError as exc:
        raise click.ClickException(exc.message) from exc
    remote = result.remote
    if result.already_present:
        click.echo(f"{result.path} is already there (sha256 verified)")
        return
    resumed = f", resumed at {result.resumed_from:,} bytes" if result.resumed_from else ""
    click.echo(f"pulled {remote.repo}/{remote.filename} -> {result.path}{resumed}")
    click.echo(f"sha256 {remote.sha256} verified; use it with --model {result.path.stem}")


@models.command("list")
def models_list() -> None:
    """The GGUF files of the models directory: size, quantization, context, chat template."""
    from rich.console import Console
    from rich.table import Table

    from causerie.hub.inventory import human_size, list_models

    models_dir = load_settings().resolved_models_dir()
    try:
        found = list_models(models_dir)
    except CauserieError as exc:
        raise click.ClickException(exc.message) from exc
    if not found:
        click.echo(f"no .gguf files in {models_dir} (try: causerie models pull qwen2.5-0.5b)")
        return
    table = Table("name", "size", "quantization", "context", "template", title=str(models_dir))
    for model in found:
        context = f"{model.context_length:,}" if model.context_length else "?"
        table.add_row(
            model.name, human_size(model.size), model.quantization, context, model.template_source
        )
    Console(file=sys.stdout, width=160).print(table)


@models.command("rm")
@click.argument("name")
def models_rm(name: str) -> None:
    """Delete the model NAME (a file name, with or without .gguf) from the models directory."""
    from causerie.hub.inventory import remove_model

    try:
        path = remove_model(name, load_settings().resolved_models_dir())
    except CauserieError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"deleted {path}")


@models.command("catalog")
def models_catalog() -> None:
    """The aliases `models pull` knows: a few small chat models (sizes approximate)."""
    from causerie.hub.catalog import load_catalog

    for entry in load_catalog().values():
        click.echo(
            f"{entry.alias}\t{entry.repo}:{entry.file}\t~{entry.size_mb} MB, "
            f"~{entry.ram_gb:g} GB RAM\t{entry.description}"
        )
