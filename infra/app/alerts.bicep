// What someone should hear about, by email: invocations that failed or files the pipeline
// rejected, blobs the trigger gave up on (the poison queue), events Event Grid could not
// deliver (dead letters), and silence: no file uploaded for noUploadHours.

param location string
param tags object = {}

param actionGroupName string

@description('Where alert emails go, for example the HR systems team mailbox.')
param alertEmail string

@description('Log Analytics workspace behind Application Insights.')
param workspaceId string

@description('HR storage account: its queue service holds only the blob trigger\'s poison queue.')
param hrStorageId string

param systemTopicId string

@description('Alert when no file has been uploaded (or partly uploaded) for this many hours.')
@minValue(1)
@maxValue(47)
param noUploadHours int = 26

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'hrupload'
    enabled: true
    emailReceivers: [
      {
        name: 'hrupload-operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// The pipeline logs one `hrupload.file` entry per file with its outcome in `status` (and, with
// HRUPLOAD_CONNECTORS, its `connector`); as a custom event it lands in AppEvents, as a log
// record in AppTraces. Both are read.
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
    | project TimeGenerated, What = strcat('file moved to the failed container', iff(isempty(connector), '', strcat(' (connector ', connector, ')')));
union isfuzzy=true failedInvocations, rejectedFiles
'''

var noUploadQuery = '''
__FILE_EVENTS__
| where TimeGenerated > ago(__HOURS__h)
| where status in ('uploaded', 'partial')
| summarize Uploads = count()
'''

resource failuresAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'hrupload-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'hrupload: failed invocation or rejected file'
    description: 'A function invocation failed, or a file was moved to the failed container. Its report (*.report.json) in the failed container says why.'
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

// summarize count() always returns a row, so "no events at all" is 0, not an empty result.
// The query looks back two days (the most allowed), so its own ago() bound is what applies.
resource noUploadAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'hrupload-no-upload'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'hrupload: no successful upload in ${noUploadHours} hours'
    description: 'No file was uploaded to the HR connector in ${noUploadHours} hours. Check that the HR system still exports, the incoming container, and the failed container. Fires on a new deployment until the first upload.'
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
          query: replace(replace(noUploadQuery, '__FILE_EVENTS__', fileEvents), '__HOURS__', string(noUploadHours))
          timeAggregation: 'Total'
          metricMeasureColumn: 'Uploads'
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

// The blob trigger puts a blob it failed on five times into webjobs-blobtrigger-poison. The
// app keeps no other queue in the HR account, so any message there is a poison message.
// Queue capacity metrics are published about hourly, hence the six-hour window.
resource poisonQueueAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'hrupload-poison-queue'
  location: 'global'
  tags: tags
  properties: {
    description: 'Blobs in the webjobs-blobtrigger-poison queue of the HR storage account: the blob trigger gave up on them. Look at the failed invocations, fix the cause, then drop the file again.'
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
  name: 'hrupload-eventgrid-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid could not deliver a new-file event to the function and dead-lettered it. The daily sweep picks the file up; the event is in the dead-letter container.'
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
