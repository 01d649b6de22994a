// Every role the app's identity holds, each on the narrowest scope that works, named
// guid(scope, principal, role) so a redeploy finds the same assignment. Optionally, the person
// running the deployment gets what the first-run steps in docs/deploy.md need.

@description('Principal (object) ID of the app\'s user-assigned identity.')
param principalId string

param hrStorageName string
param incomingContainerName string
param hostStorageName string
param keyVaultName string
param applicationInsightsName string

@description('Object ID of the operator who sets the secret and drops the first test file; empty for none.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

// Built-in role definition IDs, the same in every subscription.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource hrStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hrStorageName
}

resource hrIncoming 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${hrStorageName}/default/${incomingContainerName}'
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

// HR storage: the blob trigger reads new files, the pipeline moves them between containers and
// Event Grid dead-letters with this identity (Blob Data Owner: the blob trigger with an
// identity needs it); the blob trigger keeps its poison queue here (Queue Data Contributor);
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

// The operator: sets the connector secret in the vault, and drops a test file into the incoming
// container (shared keys are off, so `az storage blob upload --auth-mode login` needs a data
// role). Only that container: processed and failed HR files stay out of the operator's reach.
resource operatorSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(hrIncoming.id, operatorPrincipalId, roles.storageBlobDataContributor)
  scope: hrIncoming
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
