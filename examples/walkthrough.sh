#!/usr/bin/env bash
# The API in ten steps, against a running server of the built-in sample (`make run` in another terminal):
# search → plan (the next 10:00 or 16:00 Tokyo time, within the shuttle's 24 h booking window) → offer → book →
# live events → a closure from a CAP file → cancel → settlement. Needs only curl and python3 (to pick fields out
# of JSON). CI runs it against a live `maas serve` (tests/test_walkthrough.py); the README's "Calling the API" block is copied from these lines.
#
#   examples/walkthrough.sh [BASE_URL]        (default http://127.0.0.1:8080, or $BASE)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-${BASE:-http://127.0.0.1:8080}}
curl() { command curl --fail-with-body --max-time 60 "$@"; }  # stop at the first error, showing its problem+json
step() { printf '\n== %s\n' "$*"; }
events_pid=""
trap '[ -n "$events_pid" ] && kill "$events_pid" 2>/dev/null; rm -f "${EVENTS:-}"' EXIT

# the example closure from an earlier, interrupted run would close the trip below: lift it first (404 when absent)
CLOSURE_ID=cap:tokyo-disaster-system:example-flood-tochomae
command curl -s -o /dev/null -X DELETE -H 'Authorization: Bearer dev-disaster-key' $BASE/v1/closures/$CLOSURE_ID

step "1. search stops by name (Japanese, kana or English)"
K='Authorization: Bearer dev-partner-key'
curl -sG -H "$K" $BASE/v1/stops --data-urlencode q=都庁前 --data-urlencode limit=3

step "2. plan: the next 10:00 or 16:00 Tokyo time, Shinjuku West Exit (shuttle stop) to Tochomae"
WHEN=$(python3 -c 'import datetime as d; n = d.datetime.now(d.timezone(d.timedelta(hours=9))); print(min(t for t in (n.replace(hour=h, minute=0, second=0, microsecond=0) + d.timedelta(days=k) for k in (0, 1) for h in (10, 16)) if t >= n + d.timedelta(hours=1)).isoformat())')
PLAN=$(curl -sG -H "$K" $BASE/v1/plan --data-urlencode from=shuttle-nishishinjuku:NS-P01 --data-urlencode to=toei-subway:P-tochomae --data-urlencode depart_at=$WHEN)
# ITINERARY: the first itinerary that rides the bookable shuttle, exactly as /v1/plan returned it
ITINERARY=$(echo "$PLAN" | python3 -c 'import json,sys; print(json.dumps(next(i for i in json.load(sys.stdin)["itineraries"] if any(l["mode"] == "SHUTTLE" for l in i["legs"]))))')
echo "$ITINERARY" | python3 -c 'import json,sys; i = json.load(sys.stdin); print(i["departure"], "→", i["arrival"], [l["mode"] for l in i["legs"]])'

step "3. live events: listen in the background (Server-Sent Events)"
EVENTS=$(mktemp)
command curl -sN --max-time 30 -H "$K" $BASE/v1/events > "$EVENTS" &
events_pid=$!
sleep 1

step "4. offer: price the itinerary (the price is held until expires_at)"
OFFER=$(curl -s -H "$K" -H "Idempotency-Key: offer-$(date +%s)-$RANDOM" -H 'Content-Type: application/json' -d "{\"itinerary\": $ITINERARY, \"passengers\": {\"adult\": 1}}" $BASE/v1/offers)
echo "$OFFER"
OFFER_ID=$(echo "$OFFER" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

step "5. book, paying with the sandbox test token tok_visa: one payment for every leg"
BOOKING=$(curl -s -H "$K" -H "Idempotency-Key: book-$(date +%s)-$RANDOM" -H 'Content-Type: application/json' -d "{\"offer_id\": \"$OFFER_ID\", \"payment\": {\"token\": \"tok_visa\"}}" $BASE/v1/bookings)
BOOKING_ID=$(echo "$BOOKING" | python3 -c 'import json,sys; b = json.load(sys.stdin); print(b["id"]); assert b["state"] == "CONFIRMED", b["state"]')
echo "booking $BOOKING_ID CONFIRMED"

step "6. a disaster system closes the area around Tochomae (CAP 1.2): the booked trip is disrupted"
curl -s -H 'Authorization: Bearer dev-disaster-key' -H 'Content-Type: application/cap+xml' --data-binary @examples/closure-cap.xml $BASE/v1/closures
echo
curl -s -H "$K" "$BASE/v1/closures?active=true" | python3 -c 'import json,sys; [print(c["id"], c["severity"], c["message"]["en"]) for c in json.load(sys.stdin)["closures"]]'

step "7. cancel the booking (refunded per operator)"
curl -s -X POST -H "$K" -H "Idempotency-Key: cancel-$(date +%s)-$RANDOM" $BASE/v1/bookings/$BOOKING_ID/cancel | python3 -c 'import json,sys; b = json.load(sys.stdin); print(b["id"], b["state"], b["payment"]); assert b["state"] == "CANCELLED", b["state"]'

step "8. the events that arrived meanwhile"
for _ in $(seq 50); do grep -q 'CANCELLED' "$EVENTS" && break; sleep 0.2; done
sed -n 's/^data: //p' "$EVENTS" | python3 -c 'import json,sys; [print(e.get("type"), e.get("booking_id"), e.get("state", "")) for e in map(json.loads, sys.stdin) if e]'

step "9. the operator's settlement for today (sales, refunds, commission, payable)"
curl -s -H 'Authorization: Bearer dev-shuttle-key' $BASE/v1/operators/shuttle-nishishinjuku/settlement

step "10. lift the closure"
curl -s -X DELETE -o /dev/null -w '%{http_code}\n' -H 'Authorization: Bearer dev-disaster-key' $BASE/v1/closures/cap:tokyo-disaster-system:example-flood-tochomae
