"""`synthsight trust-list --show`: the C2PA trust lists a scan would use, where they came from, how old they are."""

from __future__ import annotations

import click

from synthsight.cli.options import trust_anchors_option


@click.command("trust-list")
@click.option("--show", is_flag=True, help="Print each list: source, commit, date, age, SHA-256, its certificates.")
@click.option("--json", "as_json", is_flag=True, help="With --show: the lists as the run manifest records them.")
@trust_anchors_option
def trust_list(show: bool, as_json: bool, trust_anchors: tuple[str, ...]) -> None:
    """The vendored C2PA trust list (and any --trust-anchors files): nothing is fetched, ever."""
    import json
    from pathlib import Path

    from synthsight.provenance import trust

    if not show:
        raise click.UsageError("say --show (the lists are vendored; nothing here fetches or changes them)")
    anchors = trust.load(tuple(Path(p) for p in trust_anchors))
    if as_json:
        described = {"trust_lists": list(anchors.lists), "source": trust.vendored_source()}
        click.echo(json.dumps({**described, "warning": trust.stale_warning()}, indent=2))
        return
    click.echo("\n".join(trust.show(anchors)))
    if stale := trust.stale_warning():
        click.echo(stale, err=True)
