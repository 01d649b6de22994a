// Resource logs and metrics into the Log Analytics workspace, for what the app's own telemetry
// cannot see: the Functions host (FunctionAppLogs: start-up, binding and scale errors), Event
// Grid deliveries that failed, and storage requests on both accounts. Key Vault's audit log is
// set in keyvault.bicep, the HR blob service's (reads, writes, deletes of HR files) in
// storage.bicep: a second setting sending a category to the same workspace is refused, so they
// are not repeated here.

@description('Log Analytics workspace that receives the logs.')
param workspaceId string

param functionAppName string
param systemTopicName string
param hrStorageName string
param hostStorageName string

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource hrStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hrStorageName
}

resource hrQueues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: hrStorage
  name: 'default'
}

resource hrTables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: hrStorage
  name: 'default'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: hostStorage
  name: 'default'
}

resource hostQueues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: hostStorage
  name: 'default'
}

resource hostTables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: hostStorage
  name: 'default'
}

// Every storage request: the HR queue (the poison queue) and the run log are small.
var storageAllRequests = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]

// The host's own account: its reads are the host polling leases and queues every few
// seconds, which would cost more than they tell; writes and deletes say what changed.
var storageChanges = [
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]

var storageMetrics = [
  {
    category: 'Transaction'
    enabled: true
  }
]

resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hrupload-host'
  scope: app
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource topicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hrupload-eventgrid'
  scope: topic
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'DeliveryFailures'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource hrQueueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hrupload-queue'
  scope: hrQueues
  properties: {
    workspaceId: workspaceId
    logs: storageAllRequests
    metrics: storageMetrics
  }
}

resource hrTableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hrupload-table'
  scope: hrTables
  properties: {
    workspaceId: workspaceId
    logs: storageAllRequests
    metrics: storageMetrics
  }
}

resource hostBlobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hrupload-host-blob'
  scope: hostBlobs
  properties: {
    workspaceId: workspaceId
    logs: storageChanges
    metrics: storageMetrics
  }
}

resource hostQueueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hrupload-host-queue'
  scope: hostQueues
  properties: {
    workspaceId: workspaceId
    logs: storageChanges
    metrics: storageMetrics
  }
}

resource hostTableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hrupload-host-table'
  scope: hostTables
  properties: {
    workspaceId: workspaceId
    logs: storageChanges
    metrics: storageMetrics
  }
}
