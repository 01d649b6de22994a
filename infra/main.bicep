// hrupload: validate HR CSV exports dropped into storage and upload them to the Microsoft
// Purview HR data connector. Deploy with `azd up`, or into an existing resource group with
// `az deployment group create -g <group> -f infra/main.bicep -p ...` (docs/deploy.md).
// Compile-check with `az bicep build -f infra/main.bicep`.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd env name); seeds the resource names.')
param environmentName string

@description('Region for every resource. Must offer Flex Consumption: `az functionapp list-flexconsumption-locations`.')
param location string = resourceGroup().location

// -- The HR connector (Microsoft Purview > Data connectors > HR) ----------------------------------

@description('Microsoft Entra tenant of the connector\'s app registration; empty for this deployment\'s tenant.')
param connectorTenantId string = ''

@minLength(1)
@description('Application (client) ID of the app registration the HR connector uses.')
param connectorAppId string

@minLength(1)
@description('Job ID shown in the HR connector\'s flyout in Purview.')
param connectorJobId string

@allowed([
  'commercial'
  'gcc'
  'gcc-high'
  'dod'
])
@description('Microsoft 365 cloud of the tenant.')
param cloud string = 'commercial'

@description('Name of the Key Vault secret holding the app registration\'s client secret. Only the name: the value is set after deployment.')
param secretName string = 'hr-connector-app-secret'

@description('Key Vault certificate to sign a client assertion with, instead of the secret; empty to use the secret.')
param certificateName string = ''

@description('Column mapping profile: inline JSON, or empty for the built-in column names.')
param profile string = ''

@description('NCRONTAB schedule (UTC) of the daily sweep that retries anything left in the incoming container.')
param schedule string = '0 0 2 * * *'

// -- HR data --------------------------------------------------------------------------------------

@description('Days before processed and failed HR files are deleted.')
@minValue(31)
param retentionDays int = 365

@description('Days before processed HR files move to the cool tier.')
@minValue(1)
param coolAfterDays int = 30

@description('Open an SFTP endpoint for HR systems that can only push over SFTP. Set before the first deployment: it needs a hierarchical namespace.')
param enableSftp bool = false

@description('SFTP local user (when enableSftp).')
param sftpUserName string = 'hrdrop'

@description('SSH public key of the HR system for the SFTP user (when enableSftp).')
param sftpPublicKey string = ''

// -- Operations -----------------------------------------------------------------------------------

@minLength(3)
@description('Email address that receives the alerts.')
param alertEmail string

@description('Declare the Event Grid subscription. Needs the code deployed first (scripts/postdeploy.sh sets it).')
param eventGridSubscription bool = false

@description('Object ID of the person deploying, granted the rights the first-run steps need (azd fills it in); empty for none.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@allowed([
  '3.11'
  '3.12'
  '3.13'
])
@description('Python version of the function app (Flex Consumption supports these). requirements.txt is locked for the default: change both together (docs/deploy.md).')
param pythonVersion string = '3.11'

@description('Upper bound on function instances (40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// -- Names ----------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'hrupload'
}

// Container and table names: the code's defaults (hrupload/settings.py), passed to the storage
// that creates them, the app settings that name them and the Event Grid filter.
var incomingContainerName = 'hr-incoming'
var processedContainerName = 'hr-processed'
var failedContainerName = 'hr-failed'
var deadLetterContainerName = 'hr-eventgrid-deadletter'
var runsTableName = 'hruploadruns'

// As named in function_app.py.
var blobFunctionName = 'process_incoming_blob'

var names = {
  identity: 'id-hrupload-${token}'
  hrStorage: take('sthr${token}', 24)
  hostStorage: take('stfn${token}', 24)
  keyVault: take('kv-hr-${token}', 24)
  logAnalytics: 'log-hrupload-${token}'
  appInsights: 'appi-hrupload-${token}'
  plan: 'plan-hrupload-${token}'
  functionApp: 'func-hrupload-${token}'
  systemTopic: 'evgt-hrupload-${token}'
  actionGroup: 'ag-hrupload-${token}'
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.appInsights
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.hrStorage
    location: location
    tags: tags
    incomingContainerName: incomingContainerName
    processedContainerName: processedContainerName
    failedContainerName: failedContainerName
    deadLetterContainerName: deadLetterContainerName
    runsTableName: runsTableName
    coolAfterDays: coolAfterDays
    retentionDays: retentionDays
    enableSftp: enableSftp
    sftpUserName: sftpUserName
    sftpPublicKey: sftpPublicKey
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
  }
}

module functionApp 'app/function.bicep' = {
  name: 'function'
  params: {
    name: names.functionApp
    planName: names.plan
    hostStorageName: names.hostStorage
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    hrBlobEndpoint: storage.outputs.blobEndpoint
    hrQueueEndpoint: storage.outputs.queueEndpoint
    hrTableEndpoint: storage.outputs.tableEndpoint
    incomingContainerName: incomingContainerName
    processedContainerName: processedContainerName
    failedContainerName: failedContainerName
    runsTableName: runsTableName
    keyVaultUri: keyVault.outputs.uri
    secretName: secretName
    certificateName: certificateName
    connectorTenantId: empty(connectorTenantId) ? tenant().tenantId : connectorTenantId
    connectorAppId: connectorAppId
    connectorJobId: connectorJobId
    cloud: cloud
    profile: profile
    schedule: schedule
    maximumInstanceCount: maximumInstanceCount
    pythonVersion: pythonVersion
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: identity.outputs.principalId
    hrStorageName: storage.outputs.name
    incomingContainerName: incomingContainerName
    hostStorageName: functionApp.outputs.hostStorageName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  params: {
    name: names.systemTopic
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    identityId: identity.outputs.id
    createSubscription: eventGridSubscription
    functionAppName: functionApp.outputs.name
    functionName: blobFunctionName
    incomingContainerName: incomingContainerName
    deadLetterContainerName: deadLetterContainerName
  }
  // Dead-lettering writes with the identity: its storage role must exist first.
  dependsOn: [
    rbac
  ]
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    actionGroupName: names.actionGroup
    alertEmail: alertEmail
    workspaceId: monitoring.outputs.workspaceId
    hrStorageId: storage.outputs.id
    systemTopicId: eventGrid.outputs.id
  }
}

// Read by azd (and so by scripts/postdeploy.sh) as environment values. No secrets here.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_IDENTITY_ID string = identity.outputs.id
output AZURE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output HR_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output HR_INCOMING_CONTAINER string = incomingContainerName
output HR_DEAD_LETTER_CONTAINER string = deadLetterContainerName
output HR_EVENTGRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name
output HR_BLOB_FUNCTION_NAME string = blobFunctionName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_SECRET_NAME string = secretName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
