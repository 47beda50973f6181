/*
 * The GlusterFS page: volumes, bricks, peers and the last events, as
 * glusterbus exports them on the system bus (org.storaged.Storaged). It
 * reads the objects through the ObjectManager, as Cockpit's storage page
 * reads UDisks2, and redraws when a signal changes them: no polling, no
 * reload. The buttons call glusterbus's methods; polkit decides who may.
 */
"use strict";

const BUS_NAME = "org.storaged.Storaged";
const ROOT = "/org/storaged/Storaged";
const MANAGER_PATH = ROOT + "/Manager";
const MANAGER = "org.storaged.Storaged.Manager.GlusterFS";
const VOLUME = "org.storaged.Storaged.GlusterFS.Volume";
const BRICK = "org.storaged.Storaged.GlusterFS.Brick";
const PEER = "org.storaged.Storaged.GlusterFS.Peer";
const SHOWN_EVENTS = 30;

// view is what the page shows: the connection to the daemon and its
// objects. connect replaces it when the daemon (re)starts.
let view = null;

function init() {
    document.getElementById("set-option").addEventListener("submit", event => {
        event.preventDefault();
        const form = event.target;
        const volume = view && proxyByPath(view.volumes, form.elements.volume.value);
        if (!volume)
            return;
        const key = form.elements.key.value.trim();
        const value = form.elements.value.value;
        act(volume.call("SetOption", [key, value, {}]), "Setting " + key + " on " + volume.Name);
    });
    // When the daemon (re)starts, read everything afresh from the new one.
    cockpit.dbus("org.freedesktop.DBus", { bus: "system" }).subscribe(
        { path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "NameOwnerChanged", arg0: BUS_NAME },
        (path, iface, signal, [name, before, now]) => {
            if (name !== BUS_NAME)
                return;
            if (now)
                connect();
            else
                showAway();
        });
    connect();
}

function showAway() {
    setStatus("Waiting for glusterbus…");
    showProblem("glusterbus is not running: nothing owns " + BUS_NAME + " on the system bus.");
}

function connect() {
    if (view)
        view.client.close();
    const client = cockpit.dbus(BUS_NAME, { bus: "system", superuser: "try" });
    const current = {
        client,
        // One watch over the whole tree; the bridge answers it from the
        // ObjectManager (GetManagedObjects, then InterfacesAdded/Removed
        // and PropertiesChanged).
        loaded: client.watch({ path_namespace: ROOT }),
        volumes: client.proxies(VOLUME, ROOT, { watch: false }),
        bricks: client.proxies(BRICK, ROOT, { watch: false }),
        peers: client.proxies(PEER, ROOT, { watch: false }),
        events: [],
        scheduled: false,
    };
    view = current;

    function redraw() {
        if (current.scheduled)
            return;
        current.scheduled = true;
        window.requestAnimationFrame(() => {
            current.scheduled = false;
            if (view === current)
                render(current);
        });
    }
    for (const set of [current.volumes, current.bricks, current.peers]) {
        for (const what of ["added", "changed", "removed"])
            set.addEventListener(what, redraw);
    }

    // Events: take the signals first, then fill in the last ones from the
    // journal, so that none falls between the two.
    client.subscribe({ path: MANAGER_PATH, interface: MANAGER, member: "Event" },
                     (path, iface, signal, args) => {
                         addEvents(current.events, [args]);
                         redraw();
                     });

    client.addEventListener("owner", (event, owner) => {
        if (owner === null && view === current)
            showAway();
    });
    client.addEventListener("close", (event, options) => {
        if (view !== current)
            return;
        if (options.problem === "not-found")
            showAway();
        else
            showProblem("The connection to glusterbus closed: " + cockpit.message(options));
    });
    current.loaded.then(() => {
        if (view !== current)
            return;
        setStatus("Live: changes show as they happen.");
        showProblem(null);
        readJournal(current, redraw);
        redraw();
    }).catch(ex => {
        if (view === current && ex.problem !== "not-found")
            showProblem("Cannot read glusterbus: " + cockpit.message(ex));
    });
}

// readJournal fills in the last events from the daemon's journal.
function readJournal(current, redraw) {
    const { client } = current;
    client.call(MANAGER_PATH, MANAGER, "LastSequence", [{}])
            .then(([last]) => {
                const since = Math.max(0, last - SHOWN_EVENTS);
                return client.call(MANAGER_PATH, MANAGER, "GetEvents", [since, SHOWN_EVENTS, {}]);
            })
            .then(([journaled]) => {
                addEvents(current.events, journaled);
                redraw();
            })
            .catch(ex => showProblem("Reading the event journal: " + cockpit.message(ex)));
}

function setStatus(text) {
    document.getElementById("status").textContent = text;
}

// addEvents keeps the newest SHOWN_EVENTS events, once each, newest first.
function addEvents(events, list) {
    for (const [seq, name, usec, node, object, fields] of list) {
        if (events.some(e => e.seq === seq))
            continue;
        events.push({ seq, name, usec, node, object, fields });
    }
    events.sort((a, b) => b.seq - a.seq);
    events.splice(SHOWN_EVENTS);
}

function proxyByPath(set, path) {
    return Object.values(set).find(p => p.path === path && p.valid);
}

function sorted(set, key) {
    return Object.values(set)
            .filter(p => p.valid)
            .sort((a, b) => String(a[key]).localeCompare(String(b[key])));
}

// act runs a method call and reports its failure; success shows itself
// through the signals.
function act(promise, what) {
    showProblem(null);
    promise.catch(ex => showProblem(what + " failed: " + cockpit.message(ex)));
}

function showProblem(text) {
    const p = document.getElementById("problem");
    p.textContent = text || "";
    p.hidden = !text;
}

function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {}))
        e.setAttribute(k, v);
    for (const c of children)
        e.append(c instanceof Node ? c : String(c));
    return e;
}

function badge(text) {
    return el("span", { class: "badge " + String(text).toLowerCase() }, text);
}

function fillTable(id, rows, columns) {
    const body = document.querySelector("#" + id + " tbody");
    if (rows.length === 0)
        rows = [el("tr", {}, el("td", { class: "empty", colspan: columns }, "None"))];
    body.replaceChildren(...rows);
}

function bytes(n) {
    if (!n)
        return "";
    return cockpit.format_bytes ? cockpit.format_bytes(n) : Math.round(n / 1048576) + " MiB";
}

// objectName names the volume, brick or peer at path as a person knows it.
function objectName(path, volumes, bricks, peers) {
    const volume = proxyByPath(volumes, path);
    if (volume)
        return volume.Name;
    const brick = proxyByPath(bricks, path);
    if (brick)
        return brick.Name;
    const peer = proxyByPath(peers, path);
    if (peer)
        return peer.Hostname;
    return path === "/" ? "" : path;
}

function render({ volumes, bricks, peers, events }) {
    const volumeRows = sorted(volumes, "Name").map(v => {
        const started = v.Status === "Started";
        const toggle = el("button", { type: "button", class: started ? "stop" : "start" },
                          started ? "Stop" : "Start");
        toggle.addEventListener("click", () => {
            if (started)
                act(v.call("Stop", [{}]), "Stopping " + v.Name);
            else
                act(v.call("Start", [{}]), "Starting " + v.Name);
        });
        return el("tr", { "data-volume": v.Name },
                  el("td", { class: "name" }, v.Name),
                  el("td", { class: "status" }, v.Status),
                  el("td", { class: "health" }, badge(v.Health)),
                  el("td", { class: "type" }, v.Type),
                  el("td", { class: "bricks" }, v.OnlineBrickCount + " / " + v.BrickCount),
                  el("td", {}, toggle));
    });
    fillTable("volumes", volumeRows, 6);

    const select = document.querySelector("#set-option select");
    const chosen = select.value;
    select.replaceChildren(...sorted(volumes, "Name").map(v => el("option", { value: v.path }, v.Name)));
    if (chosen)
        select.value = chosen;

    const brickRows = sorted(bricks, "Name").map(b => {
        const volume = proxyByPath(volumes, b.Volume);
        return el("tr", { "data-brick": b.Name },
                  el("td", {}, volume ? volume.Name : ""),
                  el("td", {}, b.Name),
                  el("td", { class: "state" }, badge(b.State)),
                  el("td", {}, b.Port || ""),
                  el("td", {}, b.SizeTotal ? bytes(b.SizeFree) + " of " + bytes(b.SizeTotal) : ""));
    });
    fillTable("bricks", brickRows, 5);

    const peerRows = sorted(peers, "Hostname").map(p => el("tr", { "data-peer": p.Uuid },
                                                          el("td", {}, p.Hostname),
                                                          el("td", {}, p.State),
                                                          el("td", {}, badge(p.Connected ? "Connected" : "Disconnected")),
                                                          el("td", {}, p.Uuid)));
    fillTable("peers", peerRows, 4);

    const eventRows = events.map(e => {
        const details = Object.entries(e.fields || {})
                .filter(([k]) => k !== "source")
                .map(([k, v]) => k + "=" + v)
                .join(" ");
        return el("tr", { "data-seq": e.seq },
                  el("td", { class: "time" }, new Date(e.usec / 1000).toLocaleString()),
                  el("td", {}, e.name),
                  el("td", {}, objectName(e.object, volumes, bricks, peers)),
                  el("td", { class: "details" }, details));
    });
    fillTable("events", eventRows, 4);
}

document.addEventListener("DOMContentLoaded", init);
