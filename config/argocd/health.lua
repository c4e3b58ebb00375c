-- Argo CD health check for AggregatedAPI (aggregation.example.com, cluster-scoped): maps the operator's
-- status (observedGeneration and the Ready, CertificatesReady, Available, Progressing and Degraded
-- conditions) to an Argo CD health status. Argo CD runs it in Lua 5.1 with the object as the global `obj`.
-- Every field may be missing, so nothing is indexed before its type is checked.
-- Tested by test/unit/argocd/health.test.ts; installed through config/argocd/kustomization.yaml.

local hs = {}

-- A non-empty string, or nil.
local function text(value)
  if type(value) == "string" and value ~= "" then
    return value
  end
  return nil
end

-- "<reason>: <message>" of a condition, or whichever of the two it has, or "<type> is <status>".
local function describe(condition)
  local reason = text(condition.reason)
  local message = text(condition.message)
  if reason and message then
    return reason .. ": " .. message
  end
  return reason or message or (tostring(condition.type) .. " is " .. tostring(condition.status))
end

local metadata = type(obj) == "table" and type(obj.metadata) == "table" and obj.metadata or {}
local status = type(obj) == "table" and type(obj.status) == "table" and obj.status or nil
local conditionList = status and type(status.conditions) == "table" and status.conditions or nil

-- The first condition of each type; entries that are not tables or have no type are skipped.
local conditions = {}
local anyCondition = false
if conditionList then
  for _, condition in ipairs(conditionList) do
    if type(condition) == "table" and text(condition.type) and conditions[condition.type] == nil then
      conditions[condition.type] = condition
      anyCondition = true
    end
  end
end

if not anyCondition then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

-- Stale when status.observedGeneration or the Ready condition's observedGeneration (whichever are set)
-- is behind metadata.generation.
local function behind(observedGeneration, generation)
  observedGeneration = tonumber(observedGeneration)
  return observedGeneration ~= nil and observedGeneration < generation
end

local generation = tonumber(metadata.generation)
if generation then
  local readyGeneration = conditions.Ready and conditions.Ready.observedGeneration
  if behind(status.observedGeneration, generation) or behind(readyGeneration, generation) then
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    return hs
  end
end

local function isStatus(conditionType, value)
  return conditions[conditionType] ~= nil and conditions[conditionType].status == value
end

if isStatus("Degraded", "True") then
  hs.status = "Degraded"
  hs.message = describe(conditions.Degraded)
  return hs
end

if isStatus("Ready", "True") then
  hs.status = "Healthy"
  hs.message = text(conditions.Ready.message) or text(conditions.Ready.reason) or "Ready"
  return hs
end

if isStatus("Progressing", "True") then
  hs.status = "Progressing"
  hs.message = describe(conditions.Progressing)
  return hs
end

-- Not ready, and not reported Degraded: still converging (whatever Available says), so Progressing
-- with Ready's reason.
if isStatus("Ready", "False") then
  hs.status = "Progressing"
  hs.message = describe(conditions.Ready)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for condition Ready"
return hs
