// What someone should hear about: invocations that failed or files the pipeline rejected,
// files uploaded with some rows rejected (partial), blobs the trigger gave up on (the poison
// queue), events Event Grid could not deliver (dead letters), silence (a connector with no
// file uploaded for noUploadHours, one alert per connector; the daily sweep no longer
// reporting) and a connector secret or certificate about to expire in Key Vault. Every
// alert's name and description name the connector job. docs/deploy.md says what each means.
//
// The log alerts read the app's own telemetry (hrupload/app/pipeline.py FILE_EVENT,
// CONNECTOR_EVENT and their fields, hrupload/adapters/keyvault.py);
// tests/test_telemetry_queries.py checks every field they read is one the app emits.

param location string
param tags object = {}

param actionGroupName string

@minLength(1)
@description('Where alert emails go, for example the HR systems team mailbox; one or more.')
param alertEmails array

@secure()
@description('Incoming webhook that also receives every alert (common alert schema JSON), for example a Teams Workflows or Slack webhook URL; empty for none.')
param alertWebhookUrl string

@minLength(1)
@description('Job ID of the HR connector this deployment uploads to: named by every alert.')
param jobId string

@description('Log Analytics workspace behind Application Insights.')
param workspaceId string

@description('HR storage account: its queue service holds only the blob trigger\'s poison queue.')
param hrStorageId string

param systemTopicId string

@description('Alert when a connector has had no file uploaded (or partly uploaded) for this many hours. Longer than the gap between two exports: 26 for a daily export, 170 for a weekly one, 770 for a monthly one. At most 800: the sweep looks back 35 days for the last upload (hrupload/app/pipeline.py UPLOAD_LOOKBACK).')
@minValue(1)
@maxValue(800)
param noUploadHours int = 26

@description('Alert this many days before the connector secret (or certificate) in Key Vault expires.')
@minValue(1)
@maxValue(90)
param secretExpiryDays int = 30

var job = 'job ${jobId}'
// Resource names allow the job id (a GUID); the name says which job an alert is for.
var alertName = 'hrupload-${jobId}'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'hrupload'
    enabled: true
    emailReceivers: [for (email, i) in alertEmails: {
      name: 'hrupload-operator-${i}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'hrupload-webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

// The pipeline logs one `hrupload.file` entry per file with its outcome in `status` (and, with
// HRUPLOAD_CONNECTORS, its `connector`); as a custom event it lands in AppEvents, as a log
// record in AppTraces. Both are read. Fields arrive as strings in Properties (customDimensions
// in the classic App Insights tables).
var fileEvents = '''
union isfuzzy=true
    (AppEvents | where Name == 'hrupload.file'),
    (AppTraces | where Message == 'hrupload.file')
| extend status = tostring(Properties.status), connector = tostring(Properties.connector)
'''

// An invocation that raised RetryLater failed on purpose so the host retries it (a transient
// error): it is not news unless it ends in the failed container or the poison queue, which
// alert on their own. If that exception cannot be matched, the invocation still alerts.
var failuresQuery = '''
let retried = AppExceptions
    | where ExceptionType has 'RetryLater' or OuterMessage has 'RetryLater' or InnermostMessage has 'RetryLater'
    | distinct OperationId;
let failedInvocations = AppRequests
    | where Success == false and OperationId !in (retried)
    | project TimeGenerated, What = strcat('invocation failed: ', Name);
let rejectedFiles = __FILE_EVENTS__
    | where status == 'failed'
    | project TimeGenerated, What = strcat('file moved to the failed container', iff(isempty(connector), '', strcat(' (connector ', connector, ')')), ': ', tostring(Properties.error));
union isfuzzy=true failedInvocations, rejectedFiles
'''

// Uploaded, but some rows were rejected: the rest went to the connector, the rejected rows
// are in the failed container. Not an outage, but someone has to fix the HR data.
var partialQuery = '''
__FILE_EVENTS__
| where status == 'partial'
| project TimeGenerated, Blob = tostring(Properties.blob), Rejected = toint(Properties.rejected), Rows = toint(Properties.rows)
'''

// Log search alerts look back two days at most (whatever ago() says), so the file events
// alone cannot tell that a connector last uploaded five days ago. The daily sweep says it:
// at its end it logs one `hrupload.connector` record per configured connector, with its job
// and `last_upload` (ISO time of its newest uploaded or partial file in the run log, empty
// when none in the last 35 days). The single connector's record has an empty `connector`,
// as its file events do.
var connectorEvents = '''
union isfuzzy=true
    (AppEvents | where Name == 'hrupload.connector'),
    (AppTraces | where Message == 'hrupload.connector')
| extend connector = tostring(Properties.connector)
'''

// Per connector, its latest sweep record of the last two days; an upload since that sweep
// (a file event) counts too, so a file that arrived after the sweep does not alarm. Fires
// for each connector whose last upload is older than noUploadHours, or unknown (none in
// the sweep's 35 days: also a new connector until its first upload). The single connector
// is named '(single)' (an alert dimension needs a value); job_id names its job.
var noUploadQuery = '''
let recentUploads = __FILE_EVENTS__
    | where status in ('uploaded', 'partial')
    | summarize uploaded = max(TimeGenerated) by connector;
__CONNECTOR_EVENTS__
| summarize arg_max(TimeGenerated, *) by connector
| extend job_id = tostring(Properties.job_id), reported = todatetime(tostring(Properties.last_upload))
| join kind=leftouter recentUploads on connector
| extend last = iff(isnotnull(uploaded) and (isnull(reported) or uploaded > reported), uploaded, reported)
| where isnull(last) or last < ago(__HOURS__h)
| project connector = iff(isempty(connector), '(single)', connector), job_id, last_upload = iff(isnull(last), 'none in 35 days', tostring(last)), hours_since_upload = iff(isnull(last), real(null), round((now() - last) / 1h, 1))
'''

// The silence alert above reads the sweep's records: when there are none (the timer no
// longer runs, the app is down, telemetry does not arrive) it has nothing to fire on, so
// this one fires instead. The sweep runs daily; two days allow one late or missed run.
var sweepSilentQuery = '''
__CONNECTOR_EVENTS__
| where TimeGenerated > ago(2d)
| summarize Reports = count()
'''

// The app logs the connector secret's expiry (empty when it has none) each time it reads it
// from Key Vault; a certificate is read as the secret of the same name, with the
// certificate's expiry. Only the latest read counts, so a rotated secret ends the alert.
var secretExpiryQuery = '''
AppTraces
| where Message == 'read the connector secret from Key Vault'
| summarize arg_max(TimeGenerated, *) by Secret = tostring(Properties.secret_name)
| extend Expires = todatetime(tostring(Properties.expires))
| where isnotnull(Expires) and Expires < now() + __DAYS__d
| project TimeGenerated, Secret, Expires
'''

resource failuresAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertName}-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'hrupload (${job}): failed invocation or rejected file'
    description: 'HR connector ${job}: a function invocation failed, or a file was moved to the failed container. Its report (*.report.json) in the failed container says why.'
    severity: 1
    enabled: true
    scopes: [
      workspaceId
    ]
    // A new workspace has no App* rows yet; do not fail the deployment on that.
    skipQueryValidation: true
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: replace(failuresQuery, '__FILE_EVENTS__', fileEvents)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
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
}

resource partialAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertName}-partial-files'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'hrupload (${job}): file uploaded with rows rejected'
    description: 'HR connector ${job}: a file was uploaded but some of its rows were rejected. The rejected rows and why are in the failed container (*.rejected.csv next to the date folder); fix them in the HR system so the next export carries them.'
    severity: 3
    enabled: true
    scopes: [
      workspaceId
    ]
    // A new workspace has no App* rows yet; do not fail the deployment on that.
    skipQueryValidation: true
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: replace(partialQuery, '__FILE_EVENTS__', fileEvents)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
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
}

// One alert per connector (the connector and job_id dimensions), each named in the mail.
resource noUploadAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertName}-no-upload'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'hrupload (${job}): a connector had no successful upload in ${noUploadHours} hours'
    description: 'HR connector ${job}: the connector named in this alert (its connector and job_id; (single) is the deployment\'s own connector) had no file uploaded in ${noUploadHours} hours (noUploadHours). Check that the HR system still exports to it, its folder in the incoming container, and the failed container. Fires for a new connector until its first upload.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    // A new workspace has no App* rows yet; do not fail the deployment on that.
    skipQueryValidation: true
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: replace(replace(replace(noUploadQuery, '__CONNECTOR_EVENTS__', connectorEvents), '__FILE_EVENTS__', fileEvents), '__HOURS__', string(noUploadHours))
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'connector'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'job_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
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
}

// summarize count() always returns a row, so "no records at all" is 0, not an empty result.
resource sweepSilentAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertName}-sweep-silent'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'hrupload (${job}): the daily sweep has not reported in 2 days'
    description: 'HR connector ${job}: no daily sweep reported its connectors in two days, so the no-upload alert cannot see them. Check that the function app runs (its timer, HRUPLOAD_SCHEDULE, failed invocations) and that its telemetry reaches Application Insights. Fires on a new deployment until the first sweep.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    // A new workspace has no App* rows yet; do not fail the deployment on that.
    skipQueryValidation: true
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: replace(sweepSilentQuery, '__CONNECTOR_EVENTS__', connectorEvents)
          timeAggregation: 'Total'
          metricMeasureColumn: 'Reports'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
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
}

// Evaluated every six hours over the last two days: the app reads the secret at least once a
// day (the sweep's token), and a rotation clears the alert at the next read.
resource secretExpiryAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertName}-secret-expiry'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'hrupload (${job}): connector secret expires within ${secretExpiryDays} days'
    description: 'HR connector ${job}: the app registration\'s client secret (or certificate) in Key Vault expires within ${secretExpiryDays} days. Create a new one on the app registration, store it in Key Vault with its expiry (--expires), and the app picks it up. Only fires when the Key Vault secret has an expiry date.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    // A new workspace has no App* rows yet; do not fail the deployment on that.
    skipQueryValidation: true
    evaluationFrequency: 'PT6H'
    windowSize: 'PT6H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: replace(secretExpiryQuery, '__DAYS__', string(secretExpiryDays))
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
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
}

// The blob trigger puts a blob it failed on five times into webjobs-blobtrigger-poison. The
// app keeps no other queue in the HR account, so any message there is a poison message.
// Queue capacity metrics are published about hourly, hence the six-hour window.
resource poisonQueueAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${alertName}-poison-queue'
  location: 'global'
  tags: tags
  properties: {
    description: 'HR connector ${job}: blobs in the webjobs-blobtrigger-poison queue of the HR storage account: the blob trigger gave up on them. Look at the failed invocations, fix the cause, then drop the file again.'
    severity: 1
    enabled: true
    scopes: [
      '${hrStorageId}/queueServices/default'
    ]
    targetResourceType: 'Microsoft.Storage/storageAccounts/queueServices'
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'PoisonMessages'
          metricNamespace: 'Microsoft.Storage/storageAccounts/queueServices'
          metricName: 'QueueMessageCount'
          timeAggregation: 'Average'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${alertName}-eventgrid-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'HR connector ${job}: Event Grid could not deliver a new-file event to the function and dead-lettered it. The daily sweep picks the file up; the event is in the dead-letter container.'
    severity: 2
    enabled: true
    scopes: [
      systemTopicId
    ]
    targetResourceType: 'Microsoft.EventGrid/systemTopics'
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output actionGroupId string = actionGroup.id
