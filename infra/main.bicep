// hrupload: validate HR CSV exports dropped into storage and upload them to the Microsoft
// Purview HR data connector. Deploy with `azd up`, or with
// `az deployment sub create -l <region> -f infra/main.bicep -p ...` (docs/deploy.md). Deployed at
// subscription scope, as the Azure-Samples azd templates are: it creates the resource group
// itself, so nothing has to exist first. Compile-check with `az bicep build -f infra/main.bicep`.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd env name); seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource. Must offer Flex Consumption: `az functionapp list-flexconsumption-locations`.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create (or update) for everything; empty for rg-<environmentName>. An existing group must be in `location`.')
param resourceGroupName string = ''

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

// The profile and the connectors come from the azd environment (main.parameters.json maps
// HRUPLOAD_PROFILE and HRUPLOAD_CONNECTORS), so a value set with `azd env set` is the one every
// `azd provision` writes again. Recommended: blob:<name>, a blob in the hr-config container,
// read at each run: changing it is an upload, no provision (docs/deploy.md, "Changing the
// profile or the connectors").
@description('HRUPLOAD_PROFILE: blob:<name> (a blob in the config container, read at each run), inline JSON, a path in the deployed package, or empty for the built-in column names.')
param profile string = ''

@description('HRUPLOAD_CONNECTORS: blob:<name> (as profile), inline JSON, or empty for the single connector above.')
param connectors string = ''

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
@description('Email address that receives the alerts; several separated by commas or semicolons.')
param alertEmail string

@description('Object ID of the deployer (azd fills it in: AZURE_PRINCIPAL_ID), granted the rights the runbook steps in docs/deploy.md need; empty for none.')
param principalId string = ''

@secure()
@description('Incoming webhook (Teams Workflows, Slack) that also receives the alerts; empty for none.')
param alertWebhookUrl string

@description('Alert when a connector has had no file uploaded for this many hours: more than the gap between two exports (26 daily, 170 weekly, 770 monthly; at most 800).')
@minValue(1)
@maxValue(800)
param noUploadHours int = 26

@description('Alert this many days before the connector secret or certificate in Key Vault expires.')
@minValue(1)
@maxValue(90)
param secretExpiryDays int = 30

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('Kind of principal principalId is: ServicePrincipal when a pipeline provisions (azd fills it in: AZURE_PRINCIPAL_TYPE).')
param principalType string = 'User'

@description('Event Grid system topic that already exists on the HR storage account (Defender for Storage creates one), to adopt instead of creating egst-hrupload-...; empty to create it. See docs/deploy.md.')
param existingSystemTopicName string = ''

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

// -- The web page (issue 16; docs/deploy.md, The web page) ---------------------------------------

@description('Application (client) ID of the Entra app registration the web page signs people in with (single tenant, redirect URI https://<host>/.auth/login/aad/callback, groupMembershipClaims SecurityGroup, a federated credential for the app\'s identity: docs/deploy.md). Empty: authentication is still required but there is no sign-in, so every page request is refused (401); the page is never open by accident.')
param webAuthClientId string = ''

@description('Object ID of the Entra security group whose members may open the web page (create one, add the HR and compliance admins). Empty: every page request is refused, as for an empty webAuthClientId: a registration without a group would let the whole tenant in.')
param webAllowedGroupId string = ''

// -- Network --------------------------------------------------------------------------------------

@description('Private networking: the function app joins a VNet subnet, and HR storage, host storage and Key Vault get private endpoints with public network access off. Operators then need a way into the network (docs/deploy.md, Private networking).')
param vnetEnabled bool = false

// -- Names ----------------------------------------------------------------------------------------

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
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
var configContainerName = 'hr-config'
var runsTableName = 'hruploadruns'

// As named in function_app.py.
var blobFunctionName = 'process_incoming_blob'

var names = {
  resourceGroup: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  identity: '${abbrs.managedIdentityUserAssignedIdentities}hrupload-${resourceToken}'
  hrStorage: take('${abbrs.storageStorageAccounts}hr${resourceToken}', 24)
  hostStorage: take('${abbrs.storageStorageAccounts}fn${resourceToken}', 24)
  keyVault: take('${abbrs.keyVaultVaults}hr-${resourceToken}', 24)
  logAnalytics: '${abbrs.operationalInsightsWorkspaces}hrupload-${resourceToken}'
  appInsights: '${abbrs.insightsComponents}hrupload-${resourceToken}'
  plan: '${abbrs.webServerFarms}hrupload-${resourceToken}'
  functionApp: '${abbrs.webSitesFunctions}hrupload-${resourceToken}'
  systemTopic: !empty(existingSystemTopicName) ? existingSystemTopicName : '${abbrs.eventGridSystemTopics}hrupload-${resourceToken}'
  actionGroup: '${abbrs.insightsActionGroups}hrupload-${resourceToken}'
  virtualNetwork: '${abbrs.networkVirtualNetworks}hrupload-${resourceToken}'
  privateEndpoint: '${abbrs.networkPrivateEndpoints}hrupload-${resourceToken}'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.appInsights
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.hrStorage
    location: location
    tags: tags
    incomingContainerName: incomingContainerName
    processedContainerName: processedContainerName
    failedContainerName: failedContainerName
    deadLetterContainerName: deadLetterContainerName
    configContainerName: configContainerName
    runsTableName: runsTableName
    coolAfterDays: coolAfterDays
    retentionDays: retentionDays
    enableSftp: enableSftp
    sftpUserName: sftpUserName
    sftpPublicKey: sftpPublicKey
    workspaceId: monitoring.outputs.workspaceId
    vnetEnabled: vnetEnabled
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    vnetEnabled: vnetEnabled
  }
}

module functionApp 'app/function.bicep' = {
  name: 'function'
  scope: rg
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
    configContainerName: configContainerName
    runsTableName: runsTableName
    keyVaultUri: keyVault.outputs.uri
    secretName: secretName
    certificateName: certificateName
    connectorTenantId: empty(connectorTenantId) ? tenant().tenantId : connectorTenantId
    connectorAppId: connectorAppId
    connectorJobId: connectorJobId
    cloud: cloud
    profile: profile
    connectors: connectors
    schedule: schedule
    maximumInstanceCount: maximumInstanceCount
    pythonVersion: pythonVersion
    vnetEnabled: vnetEnabled
    virtualNetworkSubnetId: vnetEnabled ? vnet.outputs.appSubnetId : ''
    webAllowedGroupId: webAllowedGroupId
  }
}

// Easy Auth in front of the web page: Entra sign-in, members of webAllowedGroupId only; Event
// Grid's webhook stays reachable with its key.
module webAuth 'app/auth.bicep' = {
  name: 'web-auth'
  scope: rg
  params: {
    functionAppName: functionApp.outputs.name
    clientId: webAuthClientId
    allowedGroupId: webAllowedGroupId
  }
}

// Private networking (vnetEnabled): the network, then private endpoints for everything the app
// reaches with its identity, each with its privatelink DNS zone.
module vnet 'app/vnet.bicep' = if (vnetEnabled) {
  name: 'vnet'
  scope: rg
  params: {
    name: names.virtualNetwork
    location: location
    tags: tags
  }
}

module privateEndpoints 'app/private-endpoints.bicep' = if (vnetEnabled) {
  name: 'private-endpoints'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: names.privateEndpoint
    vnetId: vnetEnabled ? vnet.outputs.id : ''
    subnetId: vnetEnabled ? vnet.outputs.privateEndpointSubnetId : ''
    hrStorageId: storage.outputs.id
    hostStorageId: functionApp.outputs.hostStorageId
    keyVaultId: keyVault.outputs.id
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    hrStorageName: storage.outputs.name
    incomingContainerName: incomingContainerName
    hostStorageName: functionApp.outputs.hostStorageName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    topicPrincipalId: eventGrid.outputs.principalId
    deadLetterContainerName: deadLetterContainerName
    failedContainerName: failedContainerName
    configContainerName: configContainerName
    runsTableName: runsTableName
    poisonQueueName: storage.outputs.poisonQueueName
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: names.systemTopic
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    actionGroupName: names.actionGroup
    // Addresses hold no spaces: dropping them lets 'a@x.org; b@x.org' through.
    alertEmails: split(replace(replace(alertEmail, ' ', ''), ';', ','), ',')
    alertWebhookUrl: alertWebhookUrl
    jobId: connectorJobId
    noUploadHours: noUploadHours
    secretExpiryDays: secretExpiryDays
    workspaceId: monitoring.outputs.workspaceId
    hrStorageId: storage.outputs.id
    systemTopicId: eventGrid.outputs.id
  }
}

module workbook 'app/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    jobId: connectorJobId
  }
}

module diagnostics 'app/diagnostics.bicep' = {
  name: 'diagnostics'
  scope: rg
  params: {
    workspaceId: monitoring.outputs.workspaceId
    functionAppName: functionApp.outputs.name
    systemTopicName: eventGrid.outputs.name
    hrStorageName: storage.outputs.name
    hostStorageName: functionApp.outputs.hostStorageName
  }
}

// Read by azd (and so by scripts/postdeploy.sh) as environment values. No secrets here.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_IDENTITY_ID string = identity.outputs.id
output AZURE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output HR_STORAGE_ACCOUNT_NAME string = storage.outputs.name
// For `hrupload status` / `hrupload doctor` from the deployer's machine (docs/deploy.md).
output HR_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output HR_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output HR_FAILED_CONTAINER string = failedContainerName
output HR_POISON_QUEUE_NAME string = storage.outputs.poisonQueueName
output HR_INCOMING_CONTAINER string = incomingContainerName
output HR_DEAD_LETTER_CONTAINER string = deadLetterContainerName
// Where blob:<name> configuration goes (docs/deploy.md, "Changing the profile or the connectors").
output HR_CONFIG_CONTAINER string = configContainerName
output HR_EVENTGRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name
output HR_BLOB_FUNCTION_NAME string = blobFunctionName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_SECRET_NAME string = secretName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
// The web page (pages under the host's /api/ route prefix); docs/deploy.md, The web page.
output HRUPLOAD_WEB_URL string = 'https://${functionApp.outputs.defaultHostName}/api/'
