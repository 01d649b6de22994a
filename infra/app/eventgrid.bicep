// The Event Grid system topic on the HR storage account. It carries the app's identity so that
// events Event Grid gives up on are dead-lettered to storage without a key. The subscription
// that feeds the function is in eventgrid-subscription.bicep: it needs the blob extension's
// webhook key, which exists only once the code has been deployed (see docs/deploy.md).

param name string
param location string
param tags object = {}
param storageAccountName string
param identityId string

@description('Declare the webhook subscription too. Only once the code is deployed: scripts/postdeploy.sh sets HRUPLOAD_EVENTGRID_SUBSCRIPTION for azd.')
param createSubscription bool = false

param functionAppName string
param functionName string
param incomingContainerName string
param deadLetterContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

module webhookSubscription 'eventgrid-subscription.bicep' = if (createSubscription) {
  name: 'hrupload-eventgrid-subscription'
  params: {
    systemTopicName: topic.name
    functionAppName: functionAppName
    functionName: functionName
    storageAccountName: storageAccountName
    incomingContainerName: incomingContainerName
    deadLetterContainerName: deadLetterContainerName
    identityId: identityId
  }
}

output id string = topic.id
output name string = topic.name
