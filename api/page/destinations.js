// The Destinations view of the Collection page: every destination with its health (from
// GET /api/v1/destinations), a form to create one, and deletion (refused by the API while a
// collector routes to it). page.js routes `#/destinations` and `#/destinations/new` here and
// passes its own helpers (`h` builds elements, `get` / `call` talk to the API).

const TYPES = {
  file: { path: "/var/lib/mimecast-source/out" },
  sumo: { url: "https://collectors.example.com/receiver/v1/http/TOKEN" },
  splunkHec: { url: "https://splunk.example.com:8088", token: "", index: "mimecast", ack: true },
  syslog: { host: "siem.example.com", port: 6514, tls: { caFile: "/etc/ssl/certs/siem-ca.pem" }, appName: "mimecast-source", facility: "local0" },
  s3: { bucket: "mimecast-logs", prefix: "mimecast", region: "eu-west-1" },
  http: { url: "https://logs.example.com/ingest", headers: { Authorization: "Bearer TOKEN" }, gzip: true },
};
const STATUS_WORD = { ok: "Healthy", failing: "Failing", unknown: "No data yet" };
const STATUS_LEVEL = { ok: "healthy", failing: "error", unknown: "warning" };

export async function loadDestinations(get) {
  return { destinations: (await get("/destinations")).destinations };
}

/** Where a destination sends, in a few words; never a secret (the API masks them anyway). */
function target(destination) {
  const config = destination.config || {};
  switch (destination.type) {
    case "file":
      return config.path;
    case "syslog":
      return `${config.host}:${config.port}${config.tls ? " (TLS)" : ""}`;
    case "s3":
      return `s3://${config.bucket}/${config.prefix || ""}${config.endpointUrl ? ` at ${config.endpointUrl}` : ""}`;
    case "sumo":
      return "hosted collector URL (secret)";
    default:
      return config.url || "";
  }
}

export function renderDestinations({ destinations }, { h, call, refresh, toast }) {
  const rows = destinations.map((destination) => {
    const health = destination.health || { status: "unknown" };
    const detail = health.status === "failing" ? `${health.lastFailureKind}: ${health.lastFailureMessage}` : health.lastSuccess ? `last batch ${new Date(health.lastSuccess).toLocaleString()}` : "";
    const remove = h("button", { type: "button", "aria-label": `Delete ${destination.name}` }, "Delete");
    remove.addEventListener("click", async () => {
      try {
        await call("DELETE", `/destinations/${encodeURIComponent(destination.id)}`);
        toast(`Deleted ${destination.name}`);
        refresh();
      } catch (failure) {
        toast(failure.message, "error");
      }
    });
    return h(
      "tr",
      { class: "destination-row", "data-destination": destination.name },
      h("td", {}, destination.name),
      h("td", {}, destination.type),
      h("td", {}, target(destination)),
      h("td", {}, h("span", { class: `health health-${STATUS_LEVEL[health.status] || "warning"}` }, STATUS_WORD[health.status] || health.status)),
      h("td", { class: "muted" }, detail),
      h("td", { class: "actions" }, remove),
    );
  });
  const headings = ["Name", "Type", "Sends to", "Health", "Detail"].map((name) => h("th", { scope: "col" }, name));
  return [
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Destinations"),
      h("p", { class: "muted" }, "Collectors route to these by name (\"destinations\" in the collector); a collector without any uses the deployment default (SINK_URL)."),
    ),
    destinations.length
      ? h("table", { class: "destinations" }, h("caption", { class: "visually-hidden" }, "Destinations and their health"), h("thead", {}, h("tr", {}, headings, h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))), h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No destinations yet: every collector sends to the deployment default."),
    h("p", {}, h("a", { class: "button", href: "#/destinations/new" }, "Add Destination")),
  ];
}

export function renderDestinationForm({ h, call, toast }) {
  const name = h("input", { id: "destination-name", required: "", maxlength: "128", autocomplete: "off" });
  const type = h("select", { id: "destination-type" }, Object.keys(TYPES).map((kind) => h("option", { value: kind }, kind)));
  const config = h("textarea", { id: "destination-config", rows: "10", cols: "70", spellcheck: "false" });
  const problem = h("p", { class: "issue issue-error", role: "alert", hidden: "" });
  const example = () => {
    config.value = JSON.stringify(TYPES[type.value], null, 2);
  };
  type.addEventListener("change", example);
  example();
  const form = h(
    "form",
    { class: "destination-form" },
    h("label", { for: "destination-name" }, "Name"),
    name,
    h("label", { for: "destination-type" }, "Type"),
    type,
    h("label", { for: "destination-config" }, "Config (JSON; secrets are stored encrypted and shown as ********)"),
    config,
    problem,
    h("div", { class: "form-actions" }, h("a", { class: "button", href: "#/destinations" }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Create")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(config.value);
    } catch (error) {
      problem.textContent = `config: not JSON (${error.message})`;
      problem.hidden = false;
      return;
    }
    try {
      await call("POST", "/destinations", { destination: { name: name.value, type: type.value, config: parsed } });
      toast(`Created ${name.value}`);
      location.hash = "#/destinations";
    } catch (failure) {
      problem.textContent = failure.message;
      problem.hidden = false;
    }
  });
  return [h("div", { class: "page-head" }, h("h1", {}, "Add Destination")), form];
}
