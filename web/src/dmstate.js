// dmState turns the server's answer to a send (§12.2: status, and for a
// rejected one "reason_code: detail") into what the page shows next to the
// message: the state, the reason code, and a sentence, all as text.
const EXPLAIN = {
  queue_full: "the recipient has too many messages waiting",
  quota_exceeded: "you have too many messages waiting for offline recipients",
  unknown_recipient: "no active client certificate has that name",
  cluster_unavailable: "the other chat servers cannot be reached now; nothing was stored",
  store_unavailable: "the message store cannot be reached",
  no_store: "this server keeps no messages for offline users",
  not_in_room: "join the room before sending to it",
};

export function dmState(r) {
  const status = typeof r?.status === "string" ? r.status : "unknown";
  if (status !== "rejected") return { status, reason: "", text: status };
  const raw = typeof r.reason === "string" ? r.reason : "";
  const m = /^([a-z_]+)(?::\s*([\s\S]*))?$/.exec(raw);
  const reason = m ? m[1] : "";
  const detail = m ? (m[2] ?? "") : raw;
  const why = EXPLAIN[reason] ?? detail;
  const text = reason ? `rejected (${reason}): ${why}` : `rejected: ${detail || "no reason given"}`;
  return { status, reason, text };
}
