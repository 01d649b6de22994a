// BlobCreated events for the incoming container, delivered to the function's blob extension
// webhook. Deploy this only after the code is on the function app: the webhook key
// (blobs_extension) is created by the Functions host when it first loads the blob trigger, and
// Event Grid validates the endpoint when the subscription is created. The post-deploy hook
// (scripts/postdeploy.sh, scripts/postdeploy.ps1) is its only owner: it deploys this after every
// `azd deploy` (idempotent: the same name, the same properties), and main.bicep never declares
// it, so provisioning never depends on the key. It can also be deployed by hand (docs/deploy.md).

param systemTopicName string
param functionAppName string

@description('The blob-triggered function, as named in function_app.py.')
param functionName string = 'process_incoming_blob'

param storageAccountName string
param incomingContainerName string
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event. The daily sweep catches anything missed.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// Read at deployment time inside ARM, so the key never passes through a script or a file.
var blobsExtensionKey = listKeys('${app.id}/host/default', '2023-12-01').systemKeys.blobs_extension

resource webhookSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'hr-incoming-to-function'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${app.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${blobsExtensionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${incomingContainerName}/'
      // Only completed writes: with SFTP (hierarchical namespace) a file is first created empty
      // (CreateFile, SftpCreate) and committed later (FlushWithClose, SftpCommit).
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.api'
          values: [
            'PutBlob'
            'PutBlockList'
            'CopyBlob'
            'FlushWithClose'
            'SftpCommit'
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      // The topic's own identity: Storage Blob Data Contributor on this container only (rbac.bicep).
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output name string = webhookSubscription.name
