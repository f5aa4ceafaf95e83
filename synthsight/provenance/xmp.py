"""XMP packets: IPTC digital source type, IPTC 2025.1 AI fields, creator tool, remote C2PA reference.

Parsed with defusedxml (no DTDs, no entity expansion, no external references) as a stream of
start/end events, so nesting costs no recursion; a packet nested deeper than :data:`MAX_DEPTH`
levels or not well-formed is dropped with a note and the other packets still count.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from synthsight.provenance.result import clean

DST_SOURCE = "XMP Iptc4xmpExt:DigitalSourceType"  # where a declaration was found, as records name it
AI_SYSTEM_SOURCE = "XMP Iptc4xmpExt:AISystemUsed"
MAX_DEPTH = 64  # real XMP is rarely deeper than 10 levels
MAX_VALUES = 16  # values kept per property

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
# (namespace, local name) -> the field of XmpFacts it fills
PROPERTIES = {
    (IPTC_EXT, "DigitalSourceType"): "source_types",
    (IPTC_EXT, "AISystemUsed"): "ai_system",
    (IPTC_EXT, "AISystemVersionUsed"): "ai_system_version",
    (IPTC_EXT, "AIPromptInformation"): "ai_prompt",
    ("http://ns.adobe.com/xap/1.0/", "CreatorTool"): "creator_tool",
    ("http://ns.adobe.com/exif/1.0/", "UserComment"): "user_comment",
    ("http://purl.org/dc/terms/", "provenance"): "provenance",
}


class _TooDeep(Exception):
    pass


@dataclass
class XmpFacts:
    """The XMP properties provenance cares about, each a list of its (cleaned) values."""

    source_types: list[str] = field(default_factory=list)
    ai_system: list[str] = field(default_factory=list)
    ai_system_version: list[str] = field(default_factory=list)
    ai_prompt: list[str] = field(default_factory=list)
    creator_tool: list[str] = field(default_factory=list)
    user_comment: list[str] = field(default_factory=list)  # kept long: Draw Things stores JSON here
    provenance: list[str] = field(default_factory=list)  # dcterms:provenance, a remote C2PA manifest URL
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        values = getattr(self, name)
        limit = 1 << 16 if name in ("user_comment", "ai_prompt") else 400
        text = value.strip()[:limit] if name in ("user_comment", "ai_prompt") else clean(value, limit)
        if text and text not in values and len(values) < MAX_VALUES:
            values.append(text)


def parse(packets: list[bytes]) -> XmpFacts:
    """The facts of all ``packets`` (each an XMP packet as stored in the file)."""
    facts = XmpFacts()
    for packet in packets:
        _parse_one(_trim(packet), facts)
    return facts


def _trim(packet: bytes) -> bytes:
    """Cut what follows the packet trailer: writers leave padding or junk there that XML refuses."""
    end = packet.find(b"<?xpacket end")
    if end >= 0:
        close = packet.find(b"?>", end)
        if close >= 0:
            return packet[: close + 2]
    return packet.rstrip(b"\x00 \t\r\n")


def _parse_one(packet: bytes, facts: XmpFacts) -> None:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, iterparse

    found = XmpFacts()
    try:
        _walk(iterparse(io.BytesIO(packet), events=("start", "end")), found)
    except _TooDeep:
        facts.notes.append(f"XMP packet nested deeper than {MAX_DEPTH} levels: not read")
        return
    except DefusedXmlException as exc:
        facts.notes.append(f"XMP packet refused ({type(exc).__name__}): not read")
        return
    except (ParseError, ValueError, RecursionError, MemoryError) as exc:
        facts.notes.append(f"XMP packet is not well-formed XML ({clean(exc, 80)}): not read")
        return
    for name in PROPERTIES.values():
        for value in getattr(found, name):
            facts.add(name, value)


def _walk(events, found: XmpFacts) -> None:
    depth = 0
    open_props: list[tuple[int, str]] = []  # (depth, field) of the properties we are inside
    for event, elem in events:
        if event == "start":
            depth += 1
            if depth > MAX_DEPTH:
                raise _TooDeep
            for key, value in elem.attrib.items():  # simple properties written as attributes
                name = PROPERTIES.get(_split(key))
                if name:
                    found.add(name, value)
            name = PROPERTIES.get(_split(elem.tag))
            if name:
                open_props.append((depth, name))
                resource = elem.attrib.get(f"{{{RDF}}}resource")
                if resource:
                    found.add(name, resource)
            continue
        if open_props and elem.text and elem.text.strip() and len(elem) == 0:
            found.add(open_props[-1][1], elem.text)  # a leaf inside a property: its value (or an rdf:li)
        if open_props and open_props[-1][0] == depth:
            open_props.pop()
        depth -= 1
        elem.clear()


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag
