// The storage account that holds HR data: the drop, processed and failed containers, the run log
// table and Event Grid's dead letters. HR files are personal data, so: no shared keys (every
// caller uses Entra ID), TLS 1.2, no anonymous blob access, soft delete to undo mistakes, a
// lifecycle policy so processed and failed files do not live forever, and a read/write/delete
// audit trail in Log Analytics.

param name string
param location string
param tags object = {}

@description('Replication. Geo-redundant by default: files dropped but not yet uploaded survive a regional outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_GRS'

param incomingContainerName string
param processedContainerName string
param failedContainerName string
param deadLetterContainerName string
@description('The configuration container (HRUPLOAD_CONFIG_CONTAINER): profile and connectors blobs that blob:<name> settings name.')
param configContainerName string
param runsTableName string

@description('The blob trigger\'s poison queue, as the Functions host names it.')
param poisonQueueName string = 'webjobs-blobtrigger-poison'

@description('Days after which processed files move to the cool tier.')
@minValue(1)
param coolAfterDays int = 30

@description('Days after which processed and failed files (and Event Grid dead letters) are deleted.')
@minValue(31)
param retentionDays int = 365

@description('Days a deleted blob or container can still be restored.')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 14

@description('Open an SFTP endpoint with one local user whose home is the incoming container. Needs a hierarchical namespace, which cannot be switched off later.')
param enableSftp bool = false

@description('SFTP local user name (used only when enableSftp is true).')
param sftpUserName string = 'hrdrop'

@description('SSH public key of the HR system for the SFTP user (not a secret). Can be added later instead.')
param sftpPublicKey string = ''

@description('Log Analytics workspace for the storage audit logs.')
param workspaceId string

@description('Private networking (main.bicep vnetEnabled): public network access off; the app and operators come in through private endpoints.')
param vnetEnabled bool = false

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  // checkov:skip=CKV_AZURE_59: vnetEnabled=false only: public network access stays on: the Flex app (no VNet integration) and HR systems reach the account over its public endpoint; see CKV_AZURE_35 below. With vnetEnabled it is off (make infra-check proves it without this skip).
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // SFTP requires a hierarchical namespace; it is set only when SFTP is asked for.
    isHnsEnabled: enableSftp
    isSftpEnabled: enableSftp
    isLocalUserEnabled: enableSftp
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      // checkov:skip=CKV_AZURE_35: vnetEnabled=false only: Flex Consumption without VNet integration reaches storage over its public endpoint, and Event Grid and HR systems push from outside; access is Entra ID only (shared keys off), TLS 1.2, audited. vnetEnabled denies by default (private endpoints, private-endpoints.bicep).
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
      allowPermanentDelete: false
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in [
    incomingContainerName
    processedContainerName
    failedContainerName
    deadLetterContainerName
    configContainerName
  ]: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource runsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: runsTableName
}

// The blob trigger's poison queue: the Functions host puts a blob it failed on five times here,
// in the triggering blob's account (HR_STORAGE has a queue endpoint). Created up front so the
// operator's role on it (rbac.bicep: clearing it is a runbook step) has a scope to sit on, and
// the poison-queue alert watches this account's queues.
resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: poisonQueueName
}

// HR data should not live forever: processed files cool after coolAfterDays, and processed
// files, failed files and dead-lettered events are deleted after retentionDays (then kept
// softDeleteDays more by soft delete). The incoming container is left alone: a file there has
// not been uploaded yet, and the alerts say so.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'processed-cool-then-delete'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${processedContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                tierToCool: {
                  daysAfterModificationGreaterThan: coolAfterDays
                }
                delete: {
                  daysAfterModificationGreaterThan: retentionDays
                }
              }
            }
          }
        }
        {
          name: 'failed-and-dead-letters-delete'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${failedContainerName}/'
                '${deadLetterContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: retentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

var sftpKeys = [
  {
    description: 'HR system'
    key: sftpPublicKey
  }
]

// For HR systems that can only push over SFTP: one local user, SSH key only, who can create,
// write and list in the incoming container and nothing else.
resource sftpUser 'Microsoft.Storage/storageAccounts/localUsers@2023-05-01' = if (enableSftp) {
  parent: account
  name: sftpUserName
  properties: {
    homeDirectory: incomingContainerName
    hasSshPassword: false
    hasSharedKey: false
    hasSshKey: !empty(sftpPublicKey)
    permissionScopes: [
      {
        service: 'blob'
        resourceName: incomingContainerName
        permissions: 'cwl'
      }
    ]
    sshAuthorizedKeys: empty(sftpPublicKey) ? [] : sftpKeys
  }
}

// Who read, wrote or deleted HR files, kept in the workspace.
resource blobAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'hr-data-audit'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
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
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output poisonQueueName string = poisonQueue.name
