"""Export formats: one trace (already filtered and redacted) → its rows, one module per pipeline.

Every conversation format starts from formats/shape.py's `conversation()`: cleaned, told as it
ran (an edited call shows the inputs it ran with, its result without the note that told the
model), and ending on an assistant turn (trailing unanswered work trimmed, the row marked
`truncated`; a run with no assistant turn left gives no row and is counted as skipped). The rules
each row must pass are in formats/checks.py (`export --check` and the tests run them).

Formats (one JSON object per line)
    seed          the trace as it is (redacted): nothing lost, for re-import and analysis. Its
                  messages keep the story as it happened: the model's original call, answered
                  by a result that starts with the edit note.
    anthropic     {system, tools, messages, metadata}: Messages-API shape. messages start with a
                  user turn and strictly alternate user/assistant; every tool_use is answered by
                  a tool_result with its id in the very next user turn (results first), except
                  the calls of the last assistant turn; no cache_control keys, no empty text.
    openai        {messages, tools}: chat fine-tuning shape. [system], user, then assistant turns
                  {content (string, or null when it only calls tools), tool_calls: [{id, type:
                  "function", function: {name, arguments: JSON string}}]}, each followed at once
                  by one `tool` message {tool_call_id, content: string} per call, in order.
                  Images become "[image <type>, <n> bytes not included]"; an error result's
                  content starts with "Error: ". No metadata key: OpenAI's validator refuses it.
    hf            {messages, tools, metadata}: the transformers chat-template convention (what
                  `apply_chat_template(messages, tools=tools)` and TRL's SFTTrainer take).
                  Like openai but `function.arguments` is an object, a `tool` message also says
                  the tool's `name`, an assistant turn's content is always a string ("" when it
                  only calls tools) and it has a `tool_calls` key only when it calls tools.
                  `tools` are JSON-schema functions. Parallel calls stay as the model made them;
                  `--single-call` splits them into consecutive one-call turns for templates that
                  take one call a turn (Llama 3.1's refuses more), metadata.single_call saying so.
    sharegpt      {conversations: [{from, value}], metadata}: from is system | human | gpt | tool
                  (Hermes style): calls as `<tool_call>\\n{"name", "arguments"}\\n</tool_call>` in
                  gpt values, k results as k `<tool_response>\\n{"name", "content"}\\n</tool_response>`
                  in the next tool value, the tools' signatures in the system value.
    llamafactory  {conversations, system, tools, metadata}: LLaMA-Factory's sharegpt. Turns
                  alternate human|observation and gpt|function_call, an even number of them; a
                  function_call value is {"name", "arguments"} (a list of them for parallel
                  calls) as JSON, preceded by the turn's text with the JSON inside
                  <tool_call></tool_call> when the model also wrote text (LLaMA-Factory ≥ 0.9.5);
                  the results of parallel calls share one observation, joined by
                  "\\n</tool_response>\\n<tool_response>\\n"; `tools` is a JSON string. The export
                  writes the file's dataset_info.json entry beside it.
    preference    one row per assistant turn in which a person edited or denied a call (nearly
                  always one step): {prompt: {system, tools, messages up to that turn},
                  rejected: [the model's original turn], chosen: [for an edit: the same turn with
                  the edited inputs; for a denial: the model's next turn, written after it read
                  the person's reason — which the prompt's last user turn carries]} in the
                  Anthropic message shape, metadata: {…, step, decision, feedback, steps}. A
                  denial the model never answered gives no row; nor does a chosen turn identical
                  to the rejected one.

An edited call, format by format: seed — the original call, its result with the note; anthropic,
openai, hf, sharegpt, llamafactory — the call as it ran, its result without the note
(metadata.edited_steps lists them where there is metadata); preference — original (rejected)
against edited (chosen). A denied call stays in the SFT rows with the denial as its result and
the model's next turn after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from llmos_tui.core.formats.chat import to_hf, to_openai
from llmos_tui.core.formats.messages import to_anthropic, to_preference, to_seed
from llmos_tui.core.formats.shape import (
    PERSON_DECISIONS,
    RowTally,
    Tally,
    is_person_denial,
    metadata,
    person_decided,
)
from llmos_tui.core.formats.sharegpt import to_llamafactory, to_sharegpt

Converter = Callable[[dict[str, Any], Tally, bool], Iterator[dict[str, Any]]]

CONVERTERS: dict[str, Converter] = {
    "seed": to_seed,
    "anthropic": to_anthropic,
    "openai": to_openai,
    "sharegpt": to_sharegpt,
    "preference": to_preference,
    "hf": to_hf,
    "llamafactory": to_llamafactory,
}
SFT_FORMATS = ("anthropic", "openai", "sharegpt", "hf", "llamafactory")

__all__ = [
    "CONVERTERS",
    "PERSON_DECISIONS",
    "SFT_FORMATS",
    "Converter",
    "RowTally",
    "Tally",
    "is_person_denial",
    "metadata",
    "person_decided",
]
