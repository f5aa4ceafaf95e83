"""Generator tools' own metadata: which tool made the file, with a short excerpt (model, seed, steps).

Conventions recognised (where each tool writes, as its source code does):

- A1111 / Forge: PNG text ``parameters`` ("prompt / Negative prompt: ... / Steps: 20, Sampler: ...");
  JPEG and WebP: the same text in EXIF UserComment (``UNICODE\\0`` + UTF-16).
- ComfyUI: PNG text ``prompt`` (API graph JSON) and ``workflow`` (UI graph JSON); its WebP saver
  writes EXIF Model = ``prompt:{...}`` and Make = ``workflow:{...}``.
- InvokeAI: PNG text ``invokeai_metadata`` / ``invokeai_graph`` (3.x+), ``sd-metadata`` (2.x),
  ``Dream`` (1.x command line).
- NovelAI: PNG text ``Software`` = NovelAI, ``Source`` (model), ``Comment`` (JSON parameters).
- Fooocus: PNG text ``fooocus_scheme`` beside ``parameters`` (JSON or A1111 text); JPEG/WebP:
  EXIF Software "Fooocus v...", UserComment = parameters, MakerNote = scheme.
- Draw Things: XMP ``xmp:CreatorTool`` = Draw Things, ``exif:UserComment`` = JSON parameters.
- OpenAI (DALL-E 2 downloads): EXIF MakerNote "OpenAI..." / UserComment "Made with OpenAI Labs".

The prompt never goes into the excerpt; only its first characters go into the JSON detail.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from synthsight.provenance.exif import ExifFacts
from synthsight.provenance.result import clean
from synthsight.provenance.xmp import XmpFacts

PROMPT_EXCERPT = 80
MAX_NODES = 5000
_A1111_FIELD = re.compile(r'\s*([A-Za-z][\w \-/().]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_A1111_KEYS = {
    "Model": "model",
    "Model hash": "model_hash",
    "Seed": "seed",
    "Steps": "steps",
    "Sampler": "sampler",
    "Version": "version",
}
_DREAM_FLAGS = {"-s": "steps", "-S": "seed", "-A": "sampler", "-m": "model"}


@dataclass
class Declared:
    """One unsigned declaration: an AI tool, an AI system, or a digital source type, and where it was."""

    kind: str  # ai | capture | other
    source: str  # where it was found, e.g. "PNG text 'parameters'"
    tool: str = ""  # generator tool or AI system named
    source_type: str = ""  # digital source type (bare IPTC name)
    excerpt: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "source": self.source}
        if self.tool:
            out["tool"] = self.tool
        if self.source_type:
            out["source_type"] = self.source_type
        if self.excerpt:
            out["excerpt"] = self.excerpt
        return out


def detect(texts: dict[str, str], exif: ExifFacts, xmp: XmpFacts, notes: list[str]) -> list[Declared]:
    """Every generator tool whose convention the file carries (an empty list for none)."""
    found: list[Declared] = []
    for check in (_fooocus, _a1111, _comfyui, _invokeai, _novelai, _draw_things, _openai):
        found.extend(check(texts, exif, xmp, notes))
    return found


def _a1111(texts, exif: ExifFacts, xmp, notes) -> list[Declared]:
    out = []
    if "fooocus_scheme" not in texts and (excerpt := parse_a1111(texts.get("parameters", ""))):
        out.append(Declared("ai", "PNG text 'parameters'", _a1111_tool(excerpt), excerpt=excerpt))
    if not _is_fooocus_exif(exif) and (excerpt := parse_a1111(exif.user_comment)):
        out.append(Declared("ai", "EXIF UserComment", _a1111_tool(excerpt), excerpt=excerpt))
    return out


def _a1111_tool(excerpt: dict[str, Any]) -> str:
    return "Fooocus" if "fooocus" in str(excerpt.get("version", "")).lower() else "A1111/Forge"


def parse_a1111(text: str) -> dict[str, Any]:
    """Excerpt of A1111-format generation parameters ({} when ``text`` is not in that format)."""
    lines = text.strip().splitlines()
    settings_at = [i for i, line in enumerate(lines) if "Steps: " in line]
    if not settings_at:
        return {}
    fields = {k.strip(): v.strip().strip('"') for k, v in _A1111_FIELD.findall(lines[settings_at[-1]])}
    excerpt = {name: clean(fields[key], 60) for key, name in _A1111_KEYS.items() if fields.get(key)}
    prompt = "\n".join(lines[: settings_at[-1]]).split("Negative prompt:")[0]
    return _with_prompt(excerpt, prompt) if "steps" in excerpt else {}


def _with_prompt(excerpt: dict[str, Any], prompt: Any) -> dict[str, Any]:
    if isinstance(prompt, str) and prompt.strip():
        excerpt["prompt_excerpt"] = clean(prompt, PROMPT_EXCERPT)
    return excerpt


def _fooocus(texts, exif: ExifFacts, xmp, notes) -> list[Declared]:
    out = []
    if "fooocus_scheme" in texts:
        out.append(
            Declared(
                "ai",
                "PNG text 'fooocus_scheme'",
                "Fooocus",
                excerpt=_fooocus_excerpt(texts.get("parameters", ""), notes),
            )
        )
    if _is_fooocus_exif(exif):
        out.append(
            Declared("ai", "EXIF Software/MakerNote", "Fooocus", excerpt=_fooocus_excerpt(exif.user_comment, notes))
        )
    return out


def _is_fooocus_exif(exif: ExifFacts) -> bool:
    return exif.software.lower().startswith("fooocus") or (
        exif.maker_note_text in ("fooocus", "a1111") and bool(exif.user_comment)
    )


def _fooocus_excerpt(parameters: str, notes: list[str]) -> dict[str, Any]:
    data = _json(parameters, "Fooocus parameters", notes) if parameters.lstrip().startswith("{") else None
    if not isinstance(data, dict):
        return parse_a1111(parameters)
    excerpt = _pick(
        data, {"base_model": "model", "seed": "seed", "steps": "steps", "sampler": "sampler", "version": "version"}
    )
    return _with_prompt(excerpt, data.get("prompt") or data.get("full_prompt"))


def _comfyui(texts, exif: ExifFacts, xmp, notes) -> list[Declared]:
    out = []
    sources = (
        ("PNG text 'prompt'", texts.get("prompt", ""), "PNG text 'workflow'", texts.get("workflow", "")),
        (
            "EXIF Model 'prompt:'",
            _after(exif.model, "prompt:"),
            "EXIF Make 'workflow:'",
            _after(exif.make, "workflow:"),
        ),
    )
    for prompt_at, prompt, workflow_at, workflow in sources:
        graph = _json(prompt, prompt_at, notes) if prompt else None
        ui = _json(workflow, workflow_at, notes) if workflow else None
        if isinstance(graph, dict) and any(isinstance(n, dict) and "class_type" in n for n in graph.values()):
            out.append(Declared("ai", prompt_at, "ComfyUI", excerpt=_comfy_excerpt(graph)))
        elif isinstance(ui, dict) and isinstance(ui.get("nodes"), list):
            out.append(Declared("ai", workflow_at, "ComfyUI", excerpt={"nodes": len(ui["nodes"])}))
    return out


def _after(value: str, prefix: str) -> str:
    return value.strip()[len(prefix) :] if value.strip().lower().startswith(prefix) else ""


def _comfy_excerpt(graph: dict) -> dict[str, Any]:
    excerpt: dict[str, Any] = {}
    keys = {
        "ckpt_name": "model",
        "unet_name": "model",
        "seed": "seed",
        "noise_seed": "seed",
        "steps": "steps",
        "sampler_name": "sampler",
    }
    for node in list(graph.values())[:MAX_NODES]:
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if isinstance(inputs, dict):
            for key, name in keys.items():
                value = inputs.get(key)
                if name not in excerpt and isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    excerpt[name] = clean(value, 60)
    excerpt["nodes"] = len(graph)
    return excerpt


def _invokeai(texts, exif, xmp, notes) -> list[Declared]:
    out = []
    if "invokeai_metadata" in texts:
        data = _json(texts["invokeai_metadata"], "PNG text 'invokeai_metadata'", notes)
        excerpt = _invoke_excerpt(data) if isinstance(data, dict) else {}
        out.append(Declared("ai", "PNG text 'invokeai_metadata'", "InvokeAI", excerpt=excerpt))
    elif "invokeai_graph" in texts:
        out.append(Declared("ai", "PNG text 'invokeai_graph'", "InvokeAI"))
    if "sd-metadata" in texts:
        data = _json(texts["sd-metadata"], "PNG text 'sd-metadata'", notes)
        if isinstance(data, dict) and ("app_id" in data or "image" in data or "model_weights" in data):
            image = data.get("image") if isinstance(data.get("image"), dict) else {}
            excerpt = {
                **_pick(data, {"model_weights": "model", "app_version": "version"}),
                **_pick(image, {"seed": "seed", "steps": "steps", "sampler": "sampler"}),
            }
            out.append(Declared("ai", "PNG text 'sd-metadata'", "InvokeAI", excerpt=excerpt))
    if "Dream" in texts:
        out.append(Declared("ai", "PNG text 'Dream'", "InvokeAI", excerpt=_dream_excerpt(texts["Dream"])))
    return out


def _invoke_excerpt(data: dict) -> dict[str, Any]:
    model = data.get("model")
    excerpt = _pick(data, {"seed": "seed", "steps": "steps", "scheduler": "sampler", "app_version": "version"})
    if isinstance(model, dict) and model.get("name"):
        excerpt["model"] = clean(model["name"], 60)
    elif isinstance(model, str):
        excerpt["model"] = clean(model, 60)
    return _with_prompt(excerpt, data.get("positive_prompt"))


def _dream_excerpt(text: str) -> dict[str, Any]:
    tokens = text.split()
    excerpt = {name: clean(tokens[i + 1], 60) for i, tok in enumerate(tokens[:-1]) if (name := _DREAM_FLAGS.get(tok))}
    return excerpt


def _novelai(texts, exif: ExifFacts, xmp, notes) -> list[Declared]:
    png = texts.get("Software", "").strip().lower() == "novelai"
    if not png and exif.software.strip().lower() != "novelai":
        return []
    excerpt: dict[str, Any] = {"model": clean(texts["Source"], 60)} if texts.get("Source") else {}
    data = _json(texts.get("Comment", ""), "PNG text 'Comment'", notes) if texts.get("Comment") else None
    if isinstance(data, dict):
        excerpt.update(_pick(data, {"seed": "seed", "steps": "steps", "sampler": "sampler"}))
    return [Declared("ai", "PNG text 'Software'" if png else "EXIF Software", "NovelAI", excerpt=excerpt)]


def _draw_things(texts, exif, xmp: XmpFacts, notes) -> list[Declared]:
    named = any(tool.lower().startswith("draw things") for tool in xmp.creator_tool)
    params = next(
        (
            d
            for d in (_json(c, "XMP exif:UserComment", []) for c in xmp.user_comment if c.lstrip().startswith("{"))
            if isinstance(d, dict) and "c" in d
        ),
        None,
    )
    if not named and params is None:
        return []
    excerpt = _pick(params or {}, {"model": "model", "seed": "seed", "steps": "steps", "sampler": "sampler"})
    return [
        Declared(
            "ai", "XMP CreatorTool/UserComment", "Draw Things", excerpt=_with_prompt(excerpt, (params or {}).get("c"))
        )
    ]


def _openai(texts, exif: ExifFacts, xmp, notes) -> list[Declared]:
    if exif.maker_note_text.startswith("OpenAI") or exif.user_comment.strip() == "Made with OpenAI Labs":
        return [Declared("ai", "EXIF MakerNote/UserComment", "OpenAI (DALL-E)")]
    return []


def _pick(data: dict, keys: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in keys.items():
        value = data.get(key)
        if name not in out and isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
            out[name] = clean(value, 60)
    return out


def _json(text: str, where: str, notes: list[str]) -> Any:
    """``json.loads`` that turns hostile input (deep nesting, bad syntax) into a note and None."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        notes.append(f"{where} is not readable JSON ({type(exc).__name__}): not read")
        return None
