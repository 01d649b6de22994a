// The Event Grid system topic on the HR storage account. It has its own system-assigned
// identity, used only to dead-letter events Event Grid gives up on (rbac.bicep grants it Storage
// Blob Data Contributor on the dead-letter container and nothing else): the app's identity,
// with its wider roles, is not lent to Event Grid.
//
// The subscription that feeds the function is NOT declared here or anywhere in main.bicep: it
// needs the blob extension's webhook key, which exists only once the code has been deployed, so
// scripts/postdeploy.sh (and .ps1) alone owns it and deploys eventgrid-subscription.bicep after
// every deploy. Provisioning never reads the key, so `azd provision`, `azd down` + `azd up` and
// a recreated app with no code yet all succeed.
//
// A storage account has at most one system topic. Where Defender for Storage made one first,
// main.bicep passes its name (existingSystemTopicName) and this declaration adopts it: same
// name and source, so the deployment updates it (tags, identity) instead of failing.

param name string
param location string
param tags object = {}
param storageAccountName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output id string = topic.id
output name string = topic.name
output principalId string = topic.identity.principalId
