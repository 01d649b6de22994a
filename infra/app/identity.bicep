// The one user-assigned identity the app uses for everything: host storage, HR storage,
// Key Vault and Application Insights ingestion. One identity means one principal to review, and
// roles that survive the function app being recreated. (Event Grid dead-letters with the system
// topic's own identity instead: eventgrid.bicep.)

@description('Name of the user-assigned managed identity.')
param name string

param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
