// Every role the app's identity, the Event Grid topic's identity and the deployer hold, each on
// the narrowest scope that works, named guid(scope, principal, role) so a redeploy finds the
// same assignment. The deployer (principalId in main.bicep) gets what each runbook step in
// docs/deploy.md needs, and docs/deploy.md names the role beside each step.

@description('Principal (object) ID of the app\'s user-assigned identity.')
param principalId string

param hrStorageName string
param incomingContainerName string
param hostStorageName string
param keyVaultName string
param applicationInsightsName string

@description('Principal ID of the Event Grid system topic\'s own (system-assigned) identity.')
param topicPrincipalId string

param deadLetterContainerName string
param failedContainerName string
param configContainerName string
param runsTableName string
param poisonQueueName string

@description('Object ID of the deployer/operator who follows docs/deploy.md; empty for none.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('ServicePrincipal when a pipeline provisions (AZURE_PRINCIPAL_TYPE); used by every deployer assignment.')
param operatorPrincipalType string = 'User'

// Built-in role definition IDs, the same in every subscription.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageTableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource hrStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hrStorageName
}

resource hrIncoming 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${hrStorageName}/default/${incomingContainerName}'
}

resource hrDeadLetter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${hrStorageName}/default/${deadLetterContainerName}'
}

resource hrFailed 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${hrStorageName}/default/${failedContainerName}'
}

resource hrConfig 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${hrStorageName}/default/${configContainerName}'
}

resource hrRunsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${hrStorageName}/default/${runsTableName}'
}

resource hrPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  name: '${hrStorageName}/default/${poisonQueueName}'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// HR storage: the blob trigger reads new files and the pipeline moves them between containers
// (Blob Data Owner: the blob trigger with an identity needs it); the blob trigger keeps its
// poison queue here (Queue Data Contributor);
// the run log and ledger are a table (Table Data Contributor).
resource hrBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hrStorage.id, principalId, roles.storageBlobDataOwner)
  scope: hrStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource hrQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hrStorage.id, principalId, roles.storageQueueDataContributor)
  scope: hrStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource hrTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hrStorage.id, principalId, roles.storageTableDataContributor)
  scope: hrStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Host storage: the deployment package and host leases (Blob Data Owner), blob-trigger
// bookkeeping queues (Queue Data Contributor) and the host's diagnostic events table
// (Table Data Contributor).
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource hostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, roles.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource hostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, roles.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault: read secret values (the app secret, or a certificate's private key), nothing else.
// On the vault, so every secret HRUPLOAD_CONNECTORS names (a connector's or a source's
// secret_name) is readable too: adding a connector needs no new role.
resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights: send telemetry with Entra ID (local auth is off).
resource appInsightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The Event Grid system topic's own identity: writes undeliverable events to the dead-letter
// container (deadLetterWithResourceIdentity in eventgrid-subscription.bicep), nothing else.
resource topicDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hrDeadLetter.id, topicPrincipalId, roles.storageBlobDataContributor)
  scope: hrDeadLetter
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: topicPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The deployer/operator, one role per runbook step in docs/deploy.md, each on the one vault,
// container, table or queue that step touches. Processed HR files stay out of reach.
// Set the connector secret (az keyvault secret set).
resource operatorSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Import the connector's certificate instead (az keyvault certificate import).
resource operatorCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, roles.keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCertificatesOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Drop a test file, or a fixed file again (shared keys are off, so
// `az storage blob upload --auth-mode login` needs a data role).
resource operatorBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(hrIncoming.id, operatorPrincipalId, roles.storageBlobDataContributor)
  scope: hrIncoming
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Upload the profile or connectors configuration (blob:<name> settings) and read it back.
resource operatorConfigContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(hrConfig.id, operatorPrincipalId, roles.storageBlobDataContributor)
  scope: hrConfig
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Read a failed file and its <name>.report.json.
resource operatorFailedReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(hrFailed.id, operatorPrincipalId, roles.storageBlobDataReader)
  scope: hrFailed
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Read the run log (`hrupload status`, Storage browser > Tables).
resource operatorRunsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(hrRunsTable.id, operatorPrincipalId, roles.storageTableDataReader)
  scope: hrRunsTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Look at and clear the blob trigger's poison queue (az storage message peek / clear).
resource operatorPoisonQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(hrPoisonQueue.id, operatorPrincipalId, roles.storageQueueDataContributor)
  scope: hrPoisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
