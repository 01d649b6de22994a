// Key Vault for the connector app's secret (or certificate). Access is by Azure RBAC only, with
// soft delete and purge protection so a deleted secret can be recovered and nobody can destroy
// it early. The secret's value is never in a template: it is set after deployment
// (docs/deploy.md), and the app reads it with its managed identity.

param name string
param location string
param tags object = {}

@description('Days a deleted vault or secret can still be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Log Analytics workspace for the vault audit log.')
param workspaceId string

@description('Private networking (main.bicep vnetEnabled): public network access off; the app reaches the vault through its private endpoint.')
param vnetEnabled bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109: vnetEnabled=false only: without VNet integration the Flex Consumption app reaches the vault over its public endpoint, and Functions is not a trusted service, so a deny-by-default firewall would lock the app out. Access is RBAC-only (Key Vault Secrets User for the app's identity alone) and audited.
  // checkov:skip=CKV_AZURE_189: vnetEnabled=false only: same reason as CKV_AZURE_109: public network access is needed unless the app runs in the VNet with a private endpoint (vnetEnabled turns it off; make infra-check proves it without these skips).
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
    }
  }
}

resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'vault-audit'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
