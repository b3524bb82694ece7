// Alerts: one action group (alertEmail), an availability test of /api/health with its own key, and four log alerts
// on the lines the app writes (docs/operate.md, Alerts, names each line and what it carries).
param location string
param tags object = {}
param resourceToken string
param appInsightsName string
param functionAppName string
param healthUrl string
param alertEmail string = ''
// A fresh key each provision: the availability test's own, revoked by the next provision or by hand, never shared.
@secure()
param availabilityTestKey string = newGuid()

// The thresholds of docs/operate.md; tests/test_infra_settings.py reads them from here.
var poisonWindow = 'PT10M' // a poison queue non-empty at every sample for 10 minutes (the app samples every 5)
var lostWindow = 'PT15M' // dead_lettered + unknown >= lostThreshold in 15 minutes
var lostThreshold = 1
var failureWindow = 'PT30M' // failed + undelivered above failurePercent % of at least minimumSends sends in 30 minutes
var failurePercent = 20
var minimumSends = 20
var healthFailures = 2 // /api/health failing in healthFailures consecutive test periods
var healthFrequencySeconds = 300

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource site 'Microsoft.Web/sites@2023-12-01' existing = {
  name: functionAppName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-switchboard-${resourceToken}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'switchboard'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// A host-level function key named for the test: per-function keys cannot exist before the code is deployed, and
// the test must exist from the first provision. It is not the `default` key anyone else holds.
resource availabilityKey 'Microsoft.Web/sites/host/functionKeys@2023-12-01' = {
  name: '${site.name}/default/availability-test'
  properties: {
    name: 'availability-test'
    value: availabilityTestKey
  }
}

var healthTestName = 'health-${resourceToken}'
resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: healthTestName
  location: location
  tags: union(tags, { 'hidden-link:${applicationInsights.id}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: healthTestName
    Name: 'Switchboard /api/health'
    Enabled: true
    Frequency: healthFrequencySeconds
    Timeout: 30
    Kind: 'standard'
    RetryEnabled: true
    Locations: [
      { Id: 'us-va-ash-azr' }
      { Id: 'emea-nl-ams-azr' }
      { Id: 'apac-sg-sin-azr' }
    ]
    Request: {
      RequestUrl: healthUrl
      HttpVerb: 'GET'
      ParseDependentRequests: false
      Headers: [
        {
          key: 'x-functions-key'
          value: availabilityTestKey
        }
      ]
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
  dependsOn: [
    availabilityKey
  ]
}

// Each rule counts rows of a query over the app's log lines (traces) or the test's results; one row is an alert.
var status = 'extend status = extract(@"\\bstatus=(\\S+)", 1, message)'
var rules = [
  {
    name: 'poison-queue'
    description: 'A poison queue has held messages for 10 minutes: requests, e-mails or media copies that failed 5 times wait there (docs/operate.md, Poison queue).'
    severity: 2
    window: poisonWindow
    periods: 1
    query: 'traces | where message startswith "queue.depth " | extend queue = extract(@"\\bqueue=(\\S+)", 1, message), messages = toint(extract(@"\\bmessages=(\\d+)", 1, message)) | summarize samples = count(), empty = countif(messages == 0) by queue | where samples >= 2 and empty == 0'
  }
  {
    name: 'dead-lettered-or-unknown'
    description: 'A request was dead-lettered or its outcome is unknown (docs/operate.md, Reconciliation).'
    severity: 2
    window: lostWindow
    periods: 1
    query: 'traces | where message startswith "outbound." or message startswith "record.status " | ${status} | where status in ("dead_lettered", "unknown") | summarize lost = count() | where lost >= ${lostThreshold}'
  }
  {
    name: 'failure-rate'
    description: 'More than ${failurePercent} % of at least ${minimumSends} sends in 30 minutes failed or were undelivered.'
    severity: 2
    window: failureWindow
    periods: 1
    query: 'traces | where message startswith "outbound.handled " or message startswith "record.status " | ${status} | summarize sends = countif(message startswith "outbound.handled " and status !in ("retrying", "paced", "scheduled", "rejected", "dead_lettered", "unknown", "canceled", "expired")), failures = countif(status in ("failed", "undelivered")) | where sends >= ${minimumSends} and failures * 100 > sends * ${failurePercent}'
  }
  {
    name: 'health'
    description: '/api/health failed in ${healthFailures} test periods in a row (docs/deploy.md, Health check, says what each check means).'
    severity: 1
    window: 'PT${healthFrequencySeconds / 60}M'
    periods: healthFailures
    query: 'availabilityResults | where name == "Switchboard /api/health" and success == false'
  }
]

resource logAlerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in rules: {
  name: 'switchboard-${rule.name}-${resourceToken}'
  location: location
  tags: tags
  properties: {
    displayName: 'Switchboard: ${rule.name}'
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: rule.window
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: rule.periods
            minFailingPeriodsToAlert: rule.periods
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]
