"""The Lua scripts of `core.store.coordination`: each guard changes in one atomic step."""

from __future__ import annotations

CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
    redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('INCR', KEYS[2])
end
return 0
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: lease, checkpoint. ARGV: holder token, new token, ttl (ms), then optionally the page pin
# (start cursor text, comma-joined id digests), written only over an existing checkpoint.
HANDOFF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    if ARGV[4] and redis.call('EXISTS', KEYS[2]) == 1 then
        redis.call('HSET', KEYS[2], 'pin_start', ARGV[4], 'pin_ids', ARGV[5])
    end
    return 1
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
# Shared head of the commit scripts: KEYS[1] checkpoint, KEYS[2] epoch; ARGV[1] epoch, ARGV[2]
# expected version. Leaves `version` set for the body.
FENCE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    return {-1}
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[2]) then
    return {-2}
end
"""
# Admit pending children while fewer than `bound` run: KEYS pending, running, due; returns them,
# due at `at`: their chains start at once, and a lost one comes due again then.
PUMP_BODY = """
local function pump(pending, running, due, bound, at)
    local admitted = {}
    while redis.call('SCARD', running) < bound do
        local head = redis.call('ZPOPMIN', pending)
        if #head == 0 then
            break
        end
        redis.call('SADD', running, head[1])
        redis.call('ZADD', due, at, head[1])
        admitted[#admitted + 1] = head[1]
    end
    return admitted
end
"""
# KEYS: checkpoint, epoch. ARGV: epoch, expected version, cursor, committed at. A commit clears
# the page pin: the page it named is delivered (or the cursor moved past it).
COMMIT = (
    FENCE
    + """
redis.call('HSET', KEYS[1], 'cursor', ARGV[3], 'version', version + 1, 'committed_at', ARGV[4])
redis.call('HDEL', KEYS[1], 'pin_start', 'pin_ids')
return {version + 1}
"""
)
# KEYS: parent checkpoint, parent epoch, pending, running, due, then each child's checkpoint.
# ARGV: epoch, expected version, parent cursor, now, bound, first order, admitted due at, then
# (child id, cursor)*.
ADOPT = (
    FENCE
    + PUMP_BODY
    + """
redis.call('HSET', KEYS[1], 'cursor', ARGV[3], 'version', version + 1, 'committed_at', ARGV[4])
redis.call('HDEL', KEYS[1], 'pin_start', 'pin_ids')
local order = tonumber(ARGV[6])
for i = 8, #ARGV, 2 do
    local checkpoint = KEYS[6 + (i - 8) / 2]
    if redis.call('EXISTS', checkpoint) == 0 then
        redis.call('HSET', checkpoint, 'cursor', ARGV[i + 1], 'version', 0)
        if redis.call('SISMEMBER', KEYS[4], ARGV[i]) == 0 then
            redis.call('ZADD', KEYS[3], 'NX', order, ARGV[i])
        end
    end
    order = order + 1
end
local admitted = pump(KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[5]), ARGV[7])
return {version + 1, admitted}
"""
)
# KEYS: child checkpoint, child epoch, pending, running, due. ARGV: epoch, expected version,
# child id, now, bound, epoch kept (s), admitted due at.
FINISH = (
    FENCE
    + PUMP_BODY
    + """
redis.call('DEL', KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('SREM', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[5], ARGV[3])
local admitted = pump(KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[5]), ARGV[7])
return {version + 1, admitted}
"""
)
# KEYS: pending, running, due. ARGV: due at, bound.
PUMP = (
    PUMP_BODY
    + """
return pump(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[2]), ARGV[1])
"""
)
# KEYS: pending, running, due, parked. ARGV: child id, order, bound, admitted due at.
PARK = (
    PUMP_BODY
    + """
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], 'NX', ARGV[2], ARGV[1])
return pump(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[3]), ARGV[4])
"""
)
# KEYS: pending, parked. Every parked child back in line, in its order.
UNPARK = """
local parked = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #parked, 2 do
    redis.call('ZADD', KEYS[1], 'NX', parked[i + 1], parked[i])
end
redis.call('DEL', KEYS[2])
return #parked / 2
"""
# KEYS: source, in-flight. ARGV: holder, lapses at (ms). Refused when the source is Stopping or gone.
BEGIN_WORK = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if cjson.decode(redis.call('HGET', KEYS[1], 'state'))['state'] == 'Stopping' then
    return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""
