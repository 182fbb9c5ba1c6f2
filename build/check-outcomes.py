#!/usr/bin/env python3
"""Compares the outcome events a subscriber recorded with the requests in the database (for ./build/crash-check.sh).

    check-outcomes.py ROWS EVENTS [--json OUT]

ROWS: one line per saga row, tab-separated: id, state (Completed, Failed, Canceled, or an unfinished one), error code.
EVENTS: one line per delivery, as `Inference.LoadTest subscribe` writes them: id, type, MessageId, first|redelivered.

Deliveries of the same MessageId are one message delivered more than once (at least once: the broker again after a
lost connection, or the outbox publishing it again after a crash); they are counted and then deduplicated, as the
contract tells a subscriber to. Then every final request must have exactly one outcome message, of the type of its
state; two messages with different MessageIds for one request, an outcome for a request that is not final, and one for
an id the database does not know are failures. Prints a summary and writes the figures as JSON (--json).
"""
import json
import sys
from collections import Counter, defaultdict

TYPE_OF_STATE = {"Completed": "completed", "Failed": "failed", "Canceled": "canceled"}


def main():
    args = sys.argv[1:]
    out = None
    if "--json" in args:
        i = args.index("--json")
        out = args[i + 1]
        del args[i:i + 2]
    rows_path, events_path = args

    state = {}
    for line in open(rows_path, encoding="utf-8"):
        if line.strip():
            fields = line.rstrip("\n").split("\t")
            state[fields[0]] = fields[1]

    deliveries = 0
    delivered_again = Counter()  # per MessageId, deliveries beyond the first
    broker_redeliveries = 0
    message = {}  # MessageId -> (id, type)
    conflicting_message_ids = []  # one MessageId seen with two different ids or types
    for line in open(events_path, encoding="utf-8"):
        if not line.strip():
            continue
        inference_id, kind, message_id, how = (line.rstrip("\n").split("\t") + [""] * 4)[:4]
        deliveries += 1
        if how == "redelivered":
            broker_redeliveries += 1
        if message_id in message:
            delivered_again[message_id] += 1
            if message[message_id] != (inference_id, kind):
                conflicting_message_ids.append(message_id)
        else:
            message[message_id] = (inference_id, kind)

    messages_of = defaultdict(list)  # id -> [(MessageId, type)]
    for message_id, (inference_id, kind) in message.items():
        messages_of[inference_id].append((message_id, kind))

    final = {i: s for i, s in state.items() if s in TYPE_OF_STATE}
    exactly_one, missing, several, wrong_type = [], [], [], []
    for inference_id, s in final.items():
        got = messages_of.get(inference_id, [])
        if not got:
            missing.append(inference_id)
        elif len(got) > 1:
            several.append(inference_id)
        elif got[0][1] != TYPE_OF_STATE[s]:
            wrong_type.append(inference_id)
        else:
            exactly_one.append(inference_id)
    not_final_with_outcome = [i for i in messages_of if i in state and i not in final]
    unknown = [i for i in messages_of if i not in state]

    figures = {
        "rows": len(state),
        "final_rows": len(final),
        "deliveries": deliveries,
        "messages": len(message),
        "messages_by_type": dict(sorted(Counter(kind for _, kind in message.values()).items())),
        "redeliveries": sum(delivered_again.values()),
        "redelivered_messages": len(delivered_again),
        "broker_redeliveries": broker_redeliveries,
        "exactly_one": len(exactly_one),
        "missing": missing,
        "several": {i: messages_of[i] for i in several},
        "wrong_type": {i: [final[i], messages_of[i]] for i in wrong_type},
        "not_final_with_outcome": not_final_with_outcome,
        "unknown": unknown,
        "conflicting_message_ids": conflicting_message_ids,
    }
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    print(f"{deliveries} deliveries, {len(message)} messages ({figures['messages_by_type']}), "
          f"{figures['redeliveries']} redeliveries of {len(delivered_again)} messages; "
          f"{len(exactly_one)} of {len(final)} final requests with exactly one outcome; missing {len(missing)}, "
          f"several {len(several)}, wrong type {len(wrong_type)}, not final {len(not_final_with_outcome)}, unknown {len(unknown)}")


if __name__ == "__main__":
    main()
