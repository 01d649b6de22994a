#!/bin/sh
# azd postdeploy hook: subscribe the blob trigger to Event Grid.
#
# The subscription delivers to the blob extension's webhook, and that webhook's key
# (blobs_extension) is created by the Functions host the first time it loads the blob trigger,
# that is, only once the code is deployed; Event Grid also calls the endpoint to validate it
# when the subscription is made. So the subscription cannot be part of the first provisioning.
# This script waits for the key, deploys infra/app/eventgrid-subscription.bicep (which reads
# the key inside ARM, so it never passes through this script), then tells azd to declare the
# subscription in main.bicep from now on.
#
# azd runs it after `azd up` / `azd deploy` with the deployment's outputs in the environment.
# To run it by hand: eval "$(azd env get-values)"; export the names below; sh scripts/postdeploy.sh
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
wait_attempts=${HRUPLOAD_KEY_WAIT_ATTEMPTS:-30}
wait_seconds=${HRUPLOAD_KEY_WAIT_SECONDS:-10}

missing=""
for name in AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME AZURE_IDENTITY_ID \
    HR_STORAGE_ACCOUNT_NAME HR_INCOMING_CONTAINER HR_DEAD_LETTER_CONTAINER \
    HR_EVENTGRID_SYSTEM_TOPIC_NAME HR_BLOB_FUNCTION_NAME; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "postdeploy: not set:$missing. Run through azd (azd deploy), or export them from 'azd env get-values'." >&2
    exit 2
fi

if ! command -v az >/dev/null 2>&1; then
    echo "postdeploy: the Azure CLI (az) is needed to create the Event Grid subscription." >&2
    echo "Install it, run 'az login', then 'azd hooks run postdeploy' (docs/deploy.md)." >&2
    exit 1
fi

# Same subscription as azd, when azd says which.
set -- ${AZURE_SUBSCRIPTION_ID:+--subscription "$AZURE_SUBSCRIPTION_ID"}

attempt=1
while :; do
    # Asks only whether the key exists: its value is never printed or kept. (The backticks are
    # a JMESPath literal, not a shell expansion.)
    # shellcheck disable=SC2016
    has_key=$(az functionapp keys list "$@" \
        --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
        --query 'systemKeys.blobs_extension != `null`' --output tsv 2>/dev/null) || has_key=false
    [ "$has_key" = "true" ] && break
    if [ "$attempt" -ge "$wait_attempts" ]; then
        echo "postdeploy: $AZURE_FUNCTION_APP_NAME has no blobs_extension key after $attempt tries." >&2
        echo "Check that the deployment succeeded and the app lists $HR_BLOB_FUNCTION_NAME" >&2
        echo "(az functionapp function list), then run 'azd hooks run postdeploy'." >&2
        exit 1
    fi
    echo "postdeploy: waiting for the Functions host to create the blob extension key ($attempt/$wait_attempts)"
    attempt=$((attempt + 1))
    sleep "$wait_seconds"
done

echo "postdeploy: creating the Event Grid subscription for $HR_INCOMING_CONTAINER"
az deployment group create "$@" \
    --resource-group "$AZURE_RESOURCE_GROUP" \
    --name hrupload-eventgrid-subscription \
    --template-file "$root/infra/app/eventgrid-subscription.bicep" \
    --parameters \
        systemTopicName="$HR_EVENTGRID_SYSTEM_TOPIC_NAME" \
        functionAppName="$AZURE_FUNCTION_APP_NAME" \
        functionName="$HR_BLOB_FUNCTION_NAME" \
        storageAccountName="$HR_STORAGE_ACCOUNT_NAME" \
        incomingContainerName="$HR_INCOMING_CONTAINER" \
        deadLetterContainerName="$HR_DEAD_LETTER_CONTAINER" \
        identityId="$AZURE_IDENTITY_ID" \
    --output none

# From now on `azd provision` declares the subscription too, instead of leaving it unmanaged.
if command -v azd >/dev/null 2>&1; then
    azd env set ${AZURE_ENV_NAME:+--environment "$AZURE_ENV_NAME"} HRUPLOAD_EVENTGRID_SUBSCRIPTION true
fi

echo "postdeploy: Event Grid delivers new files in $HR_INCOMING_CONTAINER to $HR_BLOB_FUNCTION_NAME."
