"""Instruction data (JSONL) -> PromptExample: `prompt` + `response`, or `messages` in chat format
(`[{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]`, the last assistant
message being the response). Bad rows are located (file:line) and never dropped silently."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .examples import PromptExample
from .readers import ReadResult, bad_row, existing_file, parse_jsonl

ROLES = ("system", "user", "assistant")


def read_instructions(path: str | Path, *, prompt_column: str = "prompt", response_column: str = "response",
                      messages_column: str = "messages", on_bad_rows: str = "error",
                      require_response: bool = True) -> ReadResult:
    path = existing_file(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise DataError(f"instruction data is read from JSONL, not {path.suffix or 'a file without extension'}",
                        where=str(path), fix='write one {"prompt": ..., "response": ...} object per line to a .jsonl file.')
    result = ReadResult(path)
    for number, row, line in parse_jsonl(path, result, on_bad_rows, prompt_column):
        try:
            if messages_column in row:
                messages, response = _chat(row[messages_column], require_response)
            elif prompt_column in row:
                prompt = row[prompt_column]
                if not isinstance(prompt, str) or not prompt.strip():
                    raise ValueError(f"{prompt_column!r} must be a non-empty string")
                messages, response = (("user", prompt),), row.get(response_column)
                if response is None and require_response:
                    raise ValueError(f"no {response_column!r} (fields found: {', '.join(map(repr, row))})")
                if response is not None and (not isinstance(response, str) or not response.strip()):
                    raise ValueError(f"{response_column!r} must be a non-empty string")
            else:
                raise ValueError(f"neither {prompt_column!r} nor {messages_column!r} (fields found: "
                                 f"{', '.join(map(repr, row))})")
        except ValueError as exc:
            bad_row(result, on_bad_rows, path, number, str(exc), line)
            continue
        result.examples.append(PromptExample(messages, response, f"{path.name}:{number}"))
    return result


def _chat(messages, require_response: bool) -> tuple[tuple[tuple[str, str], ...], str | None]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {role, content} objects")
    pairs = []
    for i, m in enumerate(messages, 1):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be {{'role': one of {', '.join(ROLES)}, 'content': a string}}")
        pairs.append((m["role"], m["content"]))
    if pairs[-1][0] == "assistant":
        if len(pairs) == 1:
            raise ValueError("the conversation has only the assistant's answer, no prompt")
        return tuple(pairs[:-1]), pairs[-1][1]
    if require_response:
        raise ValueError("the last message is not the assistant's: nothing to learn to answer")
    return tuple(pairs), None
