// The function app on Flex Consumption (FC1, Linux, Python at pythonVersion) and what its host needs: a
// small storage account of its own for the deployment package, timer leases and blob-trigger
// receipts, kept apart from the HR data. Every setting the code reads is set here, in one
// block, so tests/test_infra.py can check it against hrupload/settings.py.

param name string
param planName string
param hostStorageName string
param location string
param tags object = {}

@description('azd service this app is deployed as (azure.yaml).')
param serviceName string = 'hrupload'

param identityId string
param identityClientId string
param applicationInsightsConnectionString string

param hrBlobEndpoint string
param hrQueueEndpoint string
param hrTableEndpoint string
param incomingContainerName string
param processedContainerName string
param failedContainerName string
param configContainerName string
param runsTableName string

param keyVaultUri string
param secretName string
param certificateName string

param connectorTenantId string
param connectorAppId string
param connectorJobId string
param cloud string
@description('HRUPLOAD_PROFILE: blob:<name> in the config container (read at each run), inline JSON, or a path in the package.')
param profile string
@description('HRUPLOAD_CONNECTORS: several connectors from one deployment (blob:<name> or JSON), or empty for the one above.')
param connectors string = ''
param schedule string

@description('Upper bound on instances: caps cost and the load on the connector API. Flex allows 40 to 1000.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Python version of the app (main.bicep\'s pythonVersion).')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.11'

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Private networking (main.bicep vnetEnabled): the app joins virtualNetworkSubnetId, its host storage is reachable only through private endpoints.')
param vnetEnabled bool = false

@description('Subnet for VNet integration (vnet.bicep appSubnetId), delegated to Microsoft.App/environments; used when vnetEnabled.')
param virtualNetworkSubnetId string = ''

@description('HRUPLOAD_WEB_GROUP: the Entra group (object id) whose members may open the web page; empty: whoever the built-in authentication lets in.')
param webAllowedGroupId string = ''

var deploymentContainerName = 'app-package'

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: hostStorageName
  location: location
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_206: host plumbing only (deployment package, timer leases, trigger receipts); a redeploy recreates all of it, so geo-replication buys nothing. HR data lives in the other account, which is geo-redundant.
  sku: {
    name: 'Standard_LRS'
  }
  // checkov:skip=CKV_AZURE_43: a false positive: the check reads the parameter's identifier; the name itself is built in main.bicep from 'st' and uniqueString(), lower-case and at most 24 characters.
  // checkov:skip=CKV_AZURE_35: vnetEnabled=false only: Flex Consumption without VNet integration reaches its host storage over the public endpoint; access is Entra ID only (shared keys off) and TLS 1.2.
  // checkov:skip=CKV_AZURE_59: vnetEnabled=false only: public network access stays on: without VNet integration the Flex app reaches its host storage over the public endpoint (Entra ID only, TLS 1.2).
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
    }
  }
}

resource hostBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption is offered in some regions only and needs always-ready instances; a nightly batch that retries for hours does not need it.
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: Event Grid delivers new-file events to the blob extension webhook over the public endpoint; the webhook needs the blobs_extension system key; the one HTTP function (the web page) is behind the built-in authentication (auth.bicep).
  // checkov:skip=CKV_AZURE_17: Event Grid cannot present a client certificate, so requiring one would stop delivery; the webhook is authorized by the system key.
  // checkov:skip=CKV_AZURE_212: failover instances mean always-ready (always billed) Flex instances; a missed event is retried by Event Grid and caught by the daily sweep.
  // checkov:skip=CKV_AZURE_213: health check probes an HTTP path without signing in, and every page but the blob webhook requires Entra sign-in (auth.bicep); failures surface through the alerts in alerts.bicep.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Outbound only: Event Grid still delivers to the public HTTPS endpoint below.
    virtualNetworkSubnetId: vnetEnabled ? virtualNetworkSubnetId : null
    publicNetworkAccess: 'Enabled'
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// No FTP or basic-auth deployment: azd and Core Tools publish to Flex with an Entra token.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

// Every setting hrupload reads (hrupload/settings.py, deployed=True) and the platform's own.
// Laptop-only settings (the secret itself, stand-in URLs) are never set here: the secret is
// read from Key Vault at run time.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov runs its App Service 'web' config checks on every sites/config, this dictionary too.
  // checkov:skip=CKV_AZURE_13: a false positive: the check wants authentication on every sites/config, this app-settings dictionary too; authentication is configured in auth.bicep (authsettingsV2).
  // checkov:skip=CKV_AZURE_80: .NET Framework version does not apply to a Python app.
  // checkov:skip=CKV_AZURE_88: Flex Consumption has no Azure Files content share; the package is in a blob container.
  parent: app
  // checkov:skip=CKV_AZURE_63: HTTP (web server) logging is an App Service file-system log, not offered on Flex Consumption; invocations are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65: detailed error pages are an App Service feature, not offered on Flex Consumption; errors are logged to Application Insights.
  // checkov:skip=CKV_AZURE_66: failed request tracing is an App Service feature, not offered on Flex Consumption; failed invocations are logged and alerted on.
  // checkov:skip=CKV_AZURE_222: as on the site: Event Grid needs the public endpoint.
  name: 'appsettings'
  properties: {
    // Functions host storage, identity-based.
    AzureWebJobsStorage__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: hostStorage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: hostStorage.properties.primaryEndpoints.table
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId

    // Telemetry, sent with the identity (local auth is off on the component).
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

    // DefaultAzureCredential picks the user-assigned identity (Key Vault, Table storage).
    AZURE_CLIENT_ID: identityClientId

    // Easy Auth's client credential for the web page's sign-in (auth.bicep): the identity, as a
    // federated credential on the app registration, instead of a client secret.
    OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: identityClientId

    // HR storage, identity-based: the blob trigger needs blob and queue, the run log table.
    HR_STORAGE__blobServiceUri: hrBlobEndpoint
    HR_STORAGE__queueServiceUri: hrQueueEndpoint
    HR_STORAGE__tableServiceUri: hrTableEndpoint
    HR_STORAGE__credential: 'managedidentity'
    HR_STORAGE__clientId: identityClientId

    // The HR connector.
    HRUPLOAD_TENANT_ID: connectorTenantId
    HRUPLOAD_APP_ID: connectorAppId
    HRUPLOAD_JOB_ID: connectorJobId
    HRUPLOAD_CLOUD: cloud
    HRUPLOAD_KEY_VAULT_URL: keyVaultUri
    HRUPLOAD_SECRET_NAME: secretName
    HRUPLOAD_CERTIFICATE_NAME: certificateName
    HRUPLOAD_SECRET_TTL_SECONDS: '3600'
    HRUPLOAD_PROFILE: profile
    HRUPLOAD_CONNECTORS: connectors

    // Upload tuning: the code's defaults, spelled out so a change here is a reviewed change.
    HRUPLOAD_RECORDS_PER_CALL: '5000'
    HRUPLOAD_MAX_CHUNK_MB: '4'
    HRUPLOAD_CONCURRENCY: '12'
    HRUPLOAD_RETRY_BUDGET: '900'
    HRUPLOAD_READ_TIMEOUT: '400'
    HRUPLOAD_DEDUPE_HOURS: '20'
    HRUPLOAD_GIVE_UP_HOURS: '72'
    HRUPLOAD_PROFILE_REFRESH_DAYS: '14'
    HRUPLOAD_MAX_FILE_MB: '3072'

    // Where files and runs live, and how the blob trigger hears of new files.
    HRUPLOAD_INCOMING_CONTAINER: incomingContainerName
    HRUPLOAD_PROCESSED_CONTAINER: processedContainerName
    HRUPLOAD_FAILED_CONTAINER: failedContainerName
    HRUPLOAD_CONFIG_CONTAINER: configContainerName
    HRUPLOAD_RUNS_TABLE: runsTableName
    HRUPLOAD_BLOB_SOURCE: 'EventGrid'
    HRUPLOAD_SCHEDULE: schedule

    // The web page (hrupload/web): signed in by the app's built-in authentication (auth.bicep).
    HRUPLOAD_WEB_AUTH: 'entra'
    HRUPLOAD_WEB_GROUP: webAllowedGroupId
    HRUPLOAD_WEB_MAX_KB: '10240'
  }
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output hostStorageId string = hostStorage.id
output hostStorageName string = hostStorage.name
